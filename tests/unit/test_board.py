"""boards/generic/board.py and lib/iotlink/wifi.py on the shim: the board
module the firmware imports on ESP32 and Pico W, driven by board.json facts."""

import importlib.util
import os
import sys
import types

import pytest

import machine
import network

from iotlink_tools import paths

BOARD = os.path.join(paths.BOARDS, "generic", "board.py")


@pytest.fixture
def board(tmp_path, monkeypatch, fake_clock):
    """A fresh import of the generic board module, run from a folder holding board.json."""
    monkeypatch.chdir(tmp_path)

    def load(name, platform):
        (tmp_path / "board.json").write_text(open(os.path.join(paths.BOARDS, name, "board.json")).read())
        spec = importlib.util.spec_from_file_location("board_under_test", BOARD)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.NAME = platform
        return mod
    return load


def test_pico_w_led_temperature_wifi_and_watchdog(board, fake_clock):
    network.aps["home"] = "pw-home-123"
    network.connect_ms = 1500
    b = board("picow", "rp2")
    b.setup({"wifi": {"ssid": "home", "password": "pw-home-123"}, "app": {"watchdog_ms": 4000}})
    assert network.WLAN(network.STA_IF).isconnected()
    b.led(True)
    assert machine.Pin.board["LED"] == 1
    b.led(False)
    assert machine.Pin.board["LED"] == 0
    machine.ADC.values[4] = round(0.706 / 3.3 * 65535)      # 0.706 V is 27 C on the RP2040
    assert abs(b.sensors()["temperature"] - 27.0) < 0.2
    fake_clock.advance(3000)
    b.feed()
    fake_clock.advance(3000)
    b.feed()                                                 # fed in time: no reset


def test_esp32_variants_take_pin_polarity_and_sensor_from_board_json(board, monkeypatch):
    esp32 = types.SimpleNamespace(raw_temperature=lambda: 98.6, mcu_temperature=lambda: 41.5)
    monkeypatch.setitem(sys.modules, "esp32", esp32)
    classic = board("esp32", "esp32")
    classic.setup({})
    classic.led(True)
    assert machine.Pin.board[2] == 1
    assert classic.sensors() == {"temperature": 37.0}         # reported in Fahrenheit, converted
    c3 = board("esp32c3", "esp32")
    c3.setup({})
    c3.led(True)
    assert machine.Pin.board[8] == 0                          # active low
    assert c3.sensors() == {"temperature": 41.5}
    c3.setup({"app": {"led_pin": 5}})                         # config overrides the board's pin
    c3.led(True)
    assert machine.Pin.board[5] == 0


def test_wrong_wifi_password_fails_at_once_naming_the_network(board, fake_clock):
    network.aps["home"] = "right"
    b = board("picow", "rp2")
    t0 = fake_clock.ms()
    with pytest.raises(OSError, match="wrong password for home"):
        b.setup({"wifi": {"ssid": "home", "password": "wrong"}})
    assert fake_clock.ms() - t0 < 2000                        # not retried: retrying cannot help


def test_missing_network_is_retried_then_reported(board, fake_clock):
    from iotlink import wifi
    t0 = fake_clock.ms()
    with pytest.raises(OSError, match="could not join nowhere .network not found"):
        wifi.connect("nowhere", "x", timeout_ms=2000, retries=3)
    # three bounded attempts with growing pauses between them
    assert 3 * 2000 <= fake_clock.ms() - t0 <= 3 * 2000 + 1000 + 2000 + 4000 + 1000


def test_wifi_config_mistake_names_the_field(board):
    from iotlink import ConfigError
    b = board("picow", "rp2")
    with pytest.raises(ConfigError, match="wifi.ssid"):
        b.setup({"wifi": {"password": "x"}})
