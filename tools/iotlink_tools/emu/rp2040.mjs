// A virtual Raspberry Pi Pico (W): MicroPython's rp2 firmware running in rp2040js,
// its USB serial REPL offered as a host pseudo-terminal (socat) for mpremote.
//
//   node rp2040.mjs --modules DIR --uf2 FILE --bootrom FILE --link PATH
//                   [--socat PATH] [--flash-state FILE] [--echo]
//
// stdout: "PORT <link>" once the pty exists, "READY" once the board's USB serial is up,
// "RESET <n>" after each machine.reset().  --echo copies the board's output to stderr.
// The runner exits when its stdin closes, so it never outlives whoever started it.
//
// What rp2040js 1.4.1 lacks and this runner supplies:
//  * flash erase/program: the bootrom's flash_range_erase / flash_range_program entry points
//    are replaced by BKPT instructions, serviced here with NOR semantics (littlefs works);
//  * host->board flow control: the CDC FIFO drops bytes when full, so input waits in a queue;
//  * machine.reset(): the watchdog trigger rebuilds the chip, keeping the flash;
//  * a pty that outlives mpremote's connects and disconnects (the slave side stays open here).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf('--' + name);
  if (i < 0 && fallback === undefined) throw new Error('missing --' + name);
  return i < 0 ? fallback : args[i + 1];
}
const require = createRequire(path.join(path.resolve(option('modules')), 'package.json'));
const { Simulator, USBCDC, ConsoleLogger, LogLevel } = require('rp2040js');

const FLASH_BYTES = 2 * 1024 * 1024;
const XIP_BASE = 0x10000000;
const BKPT_ERASE = 0x11, BKPT_PROGRAM = 0x12;
const flashState = option('flash-state', null);
const echo = args.includes('--echo');
const say = (line) => process.stdout.write(line + '\n');

// ---- bootrom, with the two flash-writing entry points turned into breakpoints ----
function patchedBootrom(file) {
  const bytes = fs.readFileSync(file);
  const tableAt = bytes.readUInt16LE(0x14); // rom function table: (2-char code, thumb address) pairs
  const entry = (code) => {
    const key = code.charCodeAt(0) | (code.charCodeAt(1) << 8);
    for (let at = tableAt; bytes.readUInt16LE(at); at += 4) {
      if (bytes.readUInt16LE(at) === key) return bytes.readUInt16LE(at + 2) & ~1;
    }
    throw new Error('bootrom has no ' + code + ' function');
  };
  bytes.writeUInt16LE(0xbe00 | BKPT_ERASE, entry('RE'));
  bytes.writeUInt16LE(0xbe00 | BKPT_PROGRAM, entry('RP'));
  return new Uint32Array(new Uint8Array(bytes).buffer); // a copy: aligned whatever Node pooled
}
const bootrom = patchedBootrom(option('bootrom'));

// ---- flash: saved state if any, the UF2's blocks on top ----
function flashImage(uf2File) {
  const image = new Uint8Array(FLASH_BYTES).fill(0xff);
  if (flashState && fs.existsSync(flashState)) image.set(fs.readFileSync(flashState).subarray(0, FLASH_BYTES));
  const uf2 = fs.readFileSync(uf2File);
  for (let at = 0; at + 512 <= uf2.length; at += 512) {
    const magicOk = uf2.readUInt32LE(at) === 0x0a324655 && uf2.readUInt32LE(at + 4) === 0x9e5d5157;
    const notMainFlash = uf2.readUInt32LE(at + 8) & 1;
    if (!magicOk || notMainFlash) continue;
    const target = uf2.readUInt32LE(at + 12) - XIP_BASE, size = uf2.readUInt32LE(at + 16);
    image.set(uf2.subarray(at + 32, at + 32 + size), target);
  }
  return image;
}

// ---- the host side of the serial port ----
const toBoard = [];
let chip = null;
let resets = 0;
const socat = spawn(option('socat', 'socat'), ['-d', '-d', `pty,raw,echo=0,link=${option('link')}`, 'stdio'],
  { stdio: ['pipe', 'pipe', 'pipe'] });
let slaveFd = null, usbUp = false, readySaid = false;
function sayReady() {
  if (slaveFd !== null && usbUp && !readySaid) { readySaid = true; say('READY'); }
}
socat.stderr.on('data', (text) => {
  const m = /PTY is (\S+)/.exec(text.toString());
  if (m && slaveFd === null) {
    slaveFd = fs.openSync(m[1], fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    say('PORT ' + option('link'));
    sayReady();
  }
});
socat.stdout.on('data', (bytes) => {
  for (const b of bytes) toBoard.push(b);
  if (chip) chip.feed();
});
socat.on('exit', () => stop(1));

function saveFlash() {
  if (!flashState || !chip) return;
  fs.writeFileSync(flashState + '.new', chip.mcu.flash.subarray(0, FLASH_BYTES));
  fs.renameSync(flashState + '.new', flashState);
}

function boot(image) {
  const simulator = new Simulator();
  const mcu = simulator.rp2040;
  mcu.logger = new ConsoleLogger(LogLevel.Error);
  mcu.loadBootrom(bootrom);
  mcu.flash.set(image, 0);

  mcu.onBreak = (code) => {
    const reg = mcu.core.registers;
    if (code === BKPT_ERASE) { // flash_range_erase(offset, count, block_size, block_cmd)
      const from = reg[0] & ~0xfff, to = Math.min((reg[0] + reg[1] + 0xfff) & ~0xfff, FLASH_BYTES);
      mcu.flash.fill(0xff, from, to);
    } else if (code === BKPT_PROGRAM) { // flash_range_program(offset, data, count): bits only clear
      const offset = reg[0] >>> 0, data = reg[1] >>> 0, count = reg[2] >>> 0;
      for (let i = 0; i < count; i++) mcu.flash[offset + i] &= mcu.readUint8(data + i);
    } else {
      process.stderr.write(`[rp2040] breakpoint ${code} at 0x${(mcu.core.PC - 2).toString(16)}: halted\n`);
      simulator.stop();
      return;
    }
    mcu.core.breakRewind = 0;
    mcu.core.PC = reg[14] & ~1; // return to the caller
  };

  mcu.peripherals[0x40058].onWatchdogTrigger = () => { // WATCHDOG_BASE: machine.reset()
    if (simulator.stopped) return;
    simulator.stop();
    const kept = mcu.flash.slice(0, FLASH_BYTES);
    saveFlash();
    setImmediate(() => { boot(kept); say('RESET ' + ++resets); });
  };

  const cdc = new USBCDC(mcu.usbCtrl);
  let connected = false; // bytes typed while the board (re)boots wait for its USB serial
  const feed = () => {
    while (connected && toBoard.length && !cdc.txFIFO.full) cdc.sendSerialByte(toBoard.shift());
  };
  // rp2040js answers the board's every OUT read at once, with 0 bytes when the host sent
  // nothing: the board then spins on USB interrupts.  A read with nothing to give is held
  // (as a real host NAKs) until the host sends, so an idle board sleeps.
  const endpointRead = mcu.usbCtrl.onEndpointRead;
  let heldRead = null;
  mcu.usbCtrl.onEndpointRead = (endpoint, size) => {
    feed();
    if (connected && endpoint === cdc.outEndpoint && cdc.txFIFO.empty) heldRead = size;
    else endpointRead(endpoint, size);
  };
  const hostSent = () => {
    feed();
    if (heldRead !== null && !cdc.txFIFO.empty) {
      const size = heldRead;
      heldRead = null;
      endpointRead(cdc.outEndpoint, size);
    }
  };
  cdc.onDeviceConnected = () => { connected = usbUp = true; sayReady(); hostSent(); };
  cdc.onSerialData = (bytes) => {
    socat.stdin.write(Buffer.from(bytes));
    if (echo) process.stderr.write(Buffer.from(bytes));
  };
  chip = { simulator, mcu, feed: hostSent };
  mcu.core.PC = XIP_BASE;
  simulator.execute();
}

function stop(code) {
  try { saveFlash(); } catch (e) { process.stderr.write(`[rp2040] flash not saved: ${e}\n`); }
  if (chip) chip.simulator.stop();
  socat.kill();
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
process.stdin.on('end', () => stop(0));
process.stdin.on('error', () => stop(0));
process.stdin.resume();

boot(flashImage(option('uf2')));
