"""Drivers: the side effects of links other than the MQTT session (ATK
modules over a UART; IoTDA's HTTPS device API, file transfer and secure
tunnel).  Their vendor knowledge is in clouds/."""
