# ESP32 / ESP32-S3 / ESP32-C3 build with iotlink frozen:
#   make -C mpy-cross
#   cd ports/esp32 && make submodules
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/to/iotlink/firmware/manifest_esp32.py
# (BOARD=ESP32_GENERIC_S3 / ESP32_GENERIC_C3 for the others; ESP-IDF v5 set up first.)
include("$(PORT_DIR)/boards/manifest.py")
include("manifest.py")
