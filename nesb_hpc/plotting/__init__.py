"""The pieces of `nesb_hpc plot`: style.py (labels, units, ticks, captions) and figures.py (one
figure per study kind). plot.py reads the file and writes the figures."""
