# Raspberry Pi Pico W / Pico 2 W build with iotlink frozen:
#   make -C mpy-cross
#   cd ports/rp2 && make BOARD=RPI_PICO_W submodules
#   make BOARD=RPI_PICO_W FROZEN_MANIFEST=/abs/path/to/iotlink/firmware/manifest_rp2.py
# (BOARD=RPI_PICO2_W for the Pico 2 W.)  The board manifest brings networking.
include("$(BOARD_DIR)/manifest.py")
include("manifest.py")
