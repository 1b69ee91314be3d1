"""Local stand-ins for the clouds: real mosquitto behind a checking front door."""
