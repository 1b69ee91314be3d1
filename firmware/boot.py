# Kept minimal on purpose: anything that fails here stops the board before the
# REPL is useful.  main.py does the work and never boot-loops.
