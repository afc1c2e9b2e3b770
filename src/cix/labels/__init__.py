"""Classification labels: schemes, dominance, markings, STANAG 4774 XML. Pure: no I/O, no clock."""
