# Nothing: what the interpreter itself needs (with romfs_run.py: the interpreter,
# the mounted image and the wrapper), to take away from the ROMFS figures.
print("DONE")
