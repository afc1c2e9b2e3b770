"""The procedures of custody that act on registered documents: numbered reproductions,
certified destruction (with the sweeps that finish a destruction a crash interrupted) and
incident reports. Federation's exchange and the agreement's workflows belong beside them.
"""
