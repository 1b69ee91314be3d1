# The iotlink part of a frozen firmware: the library and umqtt.simple.
# Include it from a port manifest (manifest_esp32.py, manifest_rp2.py) so the
# port's own frozen modules are kept.  Frozen bytecode runs from flash: the
# library then costs RAM only for its objects, not its code.
require("umqtt.simple")
package("iotlink", base_path="../lib")
