# Run a bench scenario with the library and umqtt imported from a ROMFS image,
# the way a board with a ROMFS partition runs them: bytecode and constants are
# used in place, not copied into the heap.  The unix port has no flash to map,
# so the image itself is read into the heap first (one block of exactly its
# size, before anything else) and that block's size printed, for the bench to
# take away.
# argv: image path, scenario script, its arguments...
import sys
import gc
import os
import vfs
gc.collect()
_a = gc.mem_alloc()
_img = bytearray(os.stat(sys.argv[1])[6])
with open(sys.argv[1], "rb") as _f:
    _f.readinto(_img)
gc.collect()
print("IMAGE_HEAP", gc.mem_alloc() - _a)
vfs.mount(vfs.VfsRom(_img), "/rom")
_script = sys.argv[2]
_dir, _, _name = _script.rpartition("/")
sys.path[:] = ["/rom", _dir or ".", ".frozen"]
sys.argv[:] = sys.argv[2:]
# imported rather than compile(open().read()): the compiler then reads the file
# as it goes, as it does for a main script, instead of holding all its text
__import__(_name[:-3])
