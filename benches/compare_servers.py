#!/usr/bin/env python3
"""Side-by-side server benchmark: farview, TigerVNC Xvnc and x11vnc serve the same recorded
desktop frames (../shared/corpus) to the same viewer (`farview view --headless`).

For every corpus sequence and encoding, each server is read by the same headless viewer asking
for the same encoding. Measured per server: bytes received (sum of "bytes" in the viewer's
frame log), updates, server CPU seconds (utime+stime from /proc/PID/stat over the session),
frames shown (distinct source frames whose SHA-256 as RGBA the viewer's framebuffer reached)
and the median latency from a frame appearing at the source to the viewer showing it.

How the frames reach each server:
  farview   `farview serve --source replay:DIR --fps N --preload` (every PNG is decoded and
            hashed before the server listens, so farview's CPU is serving, as for the X
            servers, which are handed decoded pixels).
  xvnc      `Xvnc :N -geometry WxH -depth 24 -SecurityTypes None -rfbport PORT`; a player
            (this script, `_play`, Xlib through ctypes) puts each frame's changed rectangles on
            the root window with XPutImage at the same rate. The player's CPU is reported
            apart and never charged to the server.
  x11vnc    x11vnc sharing an Xvfb into which the same player plays. Its server CPU is
            x11vnc + Xvfb (Xvfb does the X work that Xvnc does itself); both are shown.

Python 3 standard library only, plus ImageMagick `convert` (PNG -> RGBA once, cached), Xvnc,
Xvfb, x11vnc, libX11, and a release build of farview. Not part of the test suite.

Usage: python3 benches/compare_servers.py [--sequences a,b] [--encodings zrle,tight,tight/q8]
           [--fps 10] [--runs 3] [--servers farview,xvnc,x11vnc] [--corpus DIR]
           [--skip-no-viewer] [--frames N] [--json FILE] [--keep DIR]
See benches/README.md for what each column means and the latest figures.
"""

import argparse
import ctypes
import ctypes.util
import datetime
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQUENCES = ["terminal-scroll", "browser-scroll", "window-drag", "office-typing"]
SERVERS = ["farview", "xvnc", "x11vnc", "x11vnc-noxdamage"]
DEFAULT_SERVERS = ["farview", "xvnc", "x11vnc"]
BASELINE = "xvnc"
SERVER_LABEL = {
    "farview": "farview",
    "xvnc": "TigerVNC Xvnc",
    "x11vnc": "x11vnc",
    "x11vnc-noxdamage": "x11vnc -noxdamage",
}
# After the last frame, how long the servers get to deliver it before the CPU sample.
TAIL_SECONDS = 1.5
# Frame start times (source log) and viewer times are both wall clock in ms; a little slack
# covers farview logging a frame just after it is drawn.
MATCH_SLACK_MS = 30
# x11vnc options common to both variants: no cursor drawn into the framebuffer (our viewer
# asks for no cursor pseudo-encoding, so the hashes would never match), no ~/.x11vncrc.
X11VNC_COMMON = ["-nopw", "-forever", "-shared", "-localhost", "-nocursor", "-norc", "-nobell"]
CACHE_MAGIC = b"FVPLAY1\n"


def fail(message):
    print(f"compare_servers: error: {message}", file=sys.stderr)
    sys.exit(2)


def note(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Frames: PNG -> RGBA (hash) and BGRX changed rectangles (player), cached on disk.


def list_pngs(directory, limit):
    names = sorted(n for n in os.listdir(directory) if n.lower().endswith(".png"))
    if limit:
        names = names[:limit]
    if not names:
        fail(f"no PNG frames in {directory}")
    return [os.path.join(directory, n) for n in names]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: not a PNG")
    return struct.unpack(">II", head[16:24])


def png_to_rgba(path, width, height):
    out = subprocess.run(
        ["convert", path, "-depth", "8", "rgba:-"], check=True, stdout=subprocess.PIPE
    ).stdout
    if len(out) != width * height * 4:
        fail(f"convert {path}: {len(out)} bytes, expected {width * height * 4}")
    return out


def changed_rects(previous, current, width, height, band=16, block=32):
    """The rectangles an application would damage: per band of `band` rows, spans of
    `block`-pixel columns that differ, trimmed to the band's first and last changed rows."""
    stride = width * 4
    blocks = (width + block - 1) // block
    rects = []
    for band_y in range(0, height, band):
        rows = [
            y
            for y in range(band_y, min(band_y + band, height))
            if previous[y * stride : (y + 1) * stride] != current[y * stride : (y + 1) * stride]
        ]
        if not rows:
            continue
        changed = [False] * blocks
        for y in rows:
            base = y * stride
            for b in range(blocks):
                if changed[b]:
                    continue
                start = base + b * block * 4
                end = min(start + block * 4, base + stride)
                if previous[start:end] != current[start:end]:
                    changed[b] = True
        b = 0
        while b < blocks:
            if not changed[b]:
                b += 1
                continue
            e = b
            while e + 1 < blocks and changed[e + 1]:
                e += 1
            x0, x1 = b * block, min((e + 1) * block, width)
            rects.append((x0, rows[0], x1 - x0, rows[-1] + 1 - rows[0]))
            b = e + 1
    return rects


def rect_bytes(frame, width, rect):
    x, y, w, h = rect
    return b"".join(
        frame[((row * width) + x) * 4 : ((row * width) + x + w) * 4] for row in range(y, y + h)
    )


def prepare(sequence_dir, limit, cache_root):
    """Hashes (SHA-256 of RGBA) and the player's file for a sequence; cached by file
    names, sizes and mtimes."""
    pngs = list_pngs(sequence_dir, limit)
    width, height = png_size(pngs[0])
    stamp = hashlib.sha256(
        json.dumps(
            [(os.path.basename(p), os.stat(p).st_size, int(os.stat(p).st_mtime)) for p in pngs]
        ).encode()
    ).hexdigest()[:16]
    name = os.path.basename(os.path.normpath(sequence_dir))
    cache = os.path.join(cache_root, f"{name}-{len(pngs)}-{stamp}")
    meta_path = os.path.join(cache, "frames.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            return json.load(f)
    os.makedirs(cache, exist_ok=True)
    note(f"preparing {name}: {len(pngs)} frames -> {cache} (once)")
    hashes, rect_counts, changed_pixels = [], [], []
    previous = None
    player_path = os.path.join(cache, "player.bin")
    with open(player_path + ".tmp", "wb") as out:
        out.write(CACHE_MAGIC + struct.pack("<III", width, height, len(pngs)))
        for path in pngs:
            if png_size(path) != (width, height):
                fail(f"{path}: size differs from the first frame")
            rgba = png_to_rgba(path, width, height)
            hashes.append(hashlib.sha256(rgba).hexdigest())
            bgrx = bytearray(rgba)
            bgrx[0::4] = rgba[2::4]
            bgrx[2::4] = rgba[0::4]
            bgrx = bytes(bgrx)
            if previous is None:
                rects = [(0, 0, width, height)]
            else:
                rects = changed_rects(previous, bgrx, width, height)
            out.write(struct.pack("<I", len(rects)))
            for rect in rects:
                out.write(struct.pack("<HHHH", *rect))
                out.write(rect_bytes(bgrx, width, rect))
            rect_counts.append(len(rects))
            changed_pixels.append(sum(w * h for _, _, w, h in rects))
            previous = bgrx
    os.replace(player_path + ".tmp", player_path)
    meta = {
        "name": name,
        "dir": os.path.abspath(sequence_dir),
        "pngs": pngs,
        "width": width,
        "height": height,
        "sha256": hashes,
        "rects": rect_counts,
        "put_pixels": changed_pixels,
        "player_file": player_path,
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    return meta


# ---------------------------------------------------------------------------------------------
# The player: Xlib through ctypes, run as `compare_servers.py _play ...` with DISPLAY set.


class XColor(ctypes.Structure):
    _fields_ = [
        ("pixel", ctypes.c_ulong),
        ("red", ctypes.c_ushort),
        ("green", ctypes.c_ushort),
        ("blue", ctypes.c_ushort),
        ("flags", ctypes.c_char),
        ("pad", ctypes.c_char),
    ]


def load_xlib():
    name = ctypes.util.find_library("X11")
    if not name:
        return None
    x = ctypes.CDLL(name)
    vp, ul, i, ui = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_uint
    x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = vp, [ctypes.c_char_p]
    x.XDefaultScreen.restype, x.XDefaultScreen.argtypes = i, [vp]
    x.XRootWindow.restype, x.XRootWindow.argtypes = ul, [vp, i]
    x.XDefaultVisual.restype, x.XDefaultVisual.argtypes = vp, [vp, i]
    x.XDefaultDepth.restype, x.XDefaultDepth.argtypes = i, [vp, i]
    x.XDefaultGC.restype, x.XDefaultGC.argtypes = vp, [vp, i]
    x.XCreateImage.restype = vp
    x.XCreateImage.argtypes = [vp, vp, ui, i, i, vp, ui, ui, i, i]
    x.XPutImage.restype = i
    x.XPutImage.argtypes = [vp, ul, vp, vp, i, i, i, i, ui, ui]
    x.XSync.restype, x.XSync.argtypes = i, [vp, i]
    x.XCreateBitmapFromData.restype = ul
    x.XCreateBitmapFromData.argtypes = [vp, ul, ctypes.c_char_p, ui, ui]
    x.XCreatePixmapCursor.restype = ul
    x.XCreatePixmapCursor.argtypes = [
        vp, ul, ul, ctypes.POINTER(XColor), ctypes.POINTER(XColor), ui, ui
    ]
    x.XDefineCursor.restype, x.XDefineCursor.argtypes = i, [vp, ul, ul]
    return x


def play(args):
    """Shows frame 0, says "ready", waits for "go" on stdin, then puts each later frame's
    changed rectangles at the given rate. Reports its own CPU for the playback on stdout."""
    xlib = load_xlib()
    display = xlib.XOpenDisplay(os.environ["DISPLAY"].encode())
    if not display:
        fail(f"player: cannot open display {os.environ['DISPLAY']}")
    screen = xlib.XDefaultScreen(display)
    root = xlib.XRootWindow(display, screen)
    visual = xlib.XDefaultVisual(display, screen)
    gc = xlib.XDefaultGC(display, screen)
    if xlib.XDefaultDepth(display, screen) != 24:
        fail("player: the X screen must have depth 24")
    # An invisible root cursor: a server that draws the cursor into the framebuffer (Xvnc,
    # for a viewer without cursor pseudo-encodings) must not change the pixels.
    blank = xlib.XCreateBitmapFromData(display, root, b"\x00", 1, 1)
    black = XColor()
    cursor = xlib.XCreatePixmapCursor(display, blank, blank, black, black, 0, 0)
    xlib.XDefineCursor(display, root, cursor)

    frames, keep = [], []
    with open(args.file, "rb") as f:
        if f.read(len(CACHE_MAGIC)) != CACHE_MAGIC:
            fail(f"player: {args.file} is not a player file")
        width, height, count = struct.unpack("<III", f.read(12))
        for _ in range(count):
            (nrects,) = struct.unpack("<I", f.read(4))
            images = []
            for _ in range(nrects):
                x, y, w, h = struct.unpack("<HHHH", f.read(8))
                data = bytearray(f.read(w * h * 4))
                buffer = (ctypes.c_char * len(data)).from_buffer(data)
                keep.append((data, buffer))
                image = xlib.XCreateImage(
                    display, visual, 24, 2, 0, ctypes.addressof(buffer), w, h, 32, w * 4
                )
                images.append((image, x, y, w, h))
            frames.append(images)

    def put(images):
        for image, x, y, w, h in images:
            xlib.XPutImage(display, root, gc, image, 0, 0, x, y, w, h)
        xlib.XSync(display, 0)

    log = []
    log.append({"index": 0, "t_ms": time.time() * 1000.0})
    put(frames[0])
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    cpu_start = sum(os.times()[:2])
    start = time.monotonic()
    interval = 1.0 / args.fps
    late = []
    for index in range(1, len(frames)):
        due = start + index * interval
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        late.append(time.monotonic() - due)
        log.append({"index": index, "t_ms": time.time() * 1000.0})
        put(frames[index])
    cpu = sum(os.times()[:2]) - cpu_start
    with open(args.log, "w") as f:
        for line in log:
            f.write(json.dumps(line) + "\n")
    late.sort()
    report = {
        "cpu_s": cpu,
        "late_ms_p50": 1000 * late[len(late) // 2] if late else 0,
        "late_ms_max": 1000 * late[-1] if late else 0,
    }
    print("done " + json.dumps(report), flush=True)
    # Stay connected: closing the display would not change the pixels, but keep the X server
    # quiet until the driver ends everything.
    sys.stdin.readline()


# ---------------------------------------------------------------------------------------------
# Processes and /proc.


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def listening(port):
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process with its output in files of the run's folder."""

    def __init__(self, name, argv, folder, env=None, stdin=None, stdout_pipe=False, pass_fds=()):
        self.name = name
        self.argv = argv
        self.err_path = os.path.join(folder, f"{name}.stderr")
        self.err = open(self.err_path, "wb")
        if stdout_pipe:
            stdout = subprocess.PIPE
        else:
            self.out = open(os.path.join(folder, f"{name}.stdout"), "wb")
            stdout = self.out
        self.popen = subprocess.Popen(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout,
            stderr=self.err,
            env=env,
            pass_fds=pass_fds,
        )
        self.pid = self.popen.pid

    def cpu(self):
        return cpu_seconds(self.pid)

    def alive(self):
        return self.popen.poll() is None

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.err.close()

    def stderr_tail(self, lines=15):
        try:
            with open(self.err_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def wait_until(what, predicate, timeout, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited while waiting for {what}:\n"
                                   + proc.stderr_tail())
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_line(proc, timeout):
    ready, _, _ = select.select([proc.popen.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError(f"{proc.name}: no output after {timeout:.0f} s\n" + proc.stderr_tail())
    line = proc.popen.stdout.readline().decode().strip()
    if not line:
        raise RuntimeError(f"{proc.name} exited:\n" + proc.stderr_tail())
    return line


def start_x_server(program, extra, width, height, folder):
    """Xvnc or Xvfb on a display number of its own choosing (-displayfd)."""
    read_end, write_end = os.pipe()
    if program == "Xvfb":
        size = ["-screen", "0", f"{width}x{height}x24"]
    else:
        size = ["-geometry", f"{width}x{height}", "-depth", "24"]
    argv = [program, *size, "-displayfd", str(write_end), "-nolisten", "tcp", "-s", "0",
            "-noreset", *extra]
    proc = Proc(program, argv, folder, pass_fds=(write_end,))
    os.close(write_end)
    # The server writes the number and the newline in two writes, and dies if the pipe is
    # closed in between: read up to the newline.
    text = b""
    deadline = time.monotonic() + 30
    try:
        while not text.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_end, 64) if ready else b""
            if not chunk:
                break
            text += chunk
    finally:
        os.close(read_end)
    text = text.decode().strip()
    if not text.isdigit():
        proc.stop()
        raise RuntimeError(f"{program} gave no display number:\n{proc.stderr_tail()}")
    return proc, f":{text}"


def read_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def log_has_update(path, sha256):
    return any(u.get("sha256") == sha256 for u in read_jsonl(path))


# ---------------------------------------------------------------------------------------------
# One session: a server showing a sequence to one viewer.


def viewer_argv(farview, port, encoding, frame_log, seconds):
    """`encoding` is the viewer's --encodings list, with "/qN" at the end for --quality N."""
    encoding, _, quality = encoding.partition("/q")
    return [farview, "view", f"127.0.0.1::{port}", "--headless", "--encodings", encoding,
            *(["--quality", quality] if quality else []),
            "--frame-log", frame_log, "--exit-after", f"{seconds:.1f}"]


def session_farview(ctx, seq, encoding, folder):
    frames = seq["sha256"]
    port = free_port()
    serve_log = os.path.join(folder, "serve-frames.jsonl")
    view_log = os.path.join(folder, "view-frames.jsonl")
    playback = (len(frames) - 1) / ctx.fps
    serve = Proc("farview-serve", [ctx.farview, "serve", "--source", f"replay:{seq['replay_dir']}",
                                  "--fps", str(ctx.fps), "--preload", "--listen", f"127.0.0.1:{port}",
                                  "--frame-log", serve_log], folder)
    viewer = None
    try:
        wait_until("farview serve to listen", lambda: listening(port), 30, [serve])
        # The CPU count starts with the first frame shown, after the frames are preloaded.
        wait_until("the first replayed frame", lambda: read_jsonl(serve_log), 60, [serve])
        cpu0 = serve.cpu()
        if encoding:
            viewer = Proc("viewer", viewer_argv(ctx.farview, port, encoding, view_log,
                                                playback + TAIL_SECONDS + 10), folder)
            ctx.commands.setdefault("farview", (serve.argv, viewer.argv))
        last = len(frames) - 1
        wait_until("the last replayed frame",
                   lambda: any(e.get("index") == last for e in read_jsonl(serve_log)),
                   playback + 60, [serve] + ([viewer] if viewer else []))
        time.sleep(TAIL_SECONDS)
        cpu1 = serve.cpu()
        viewer_cpu = viewer.cpu() if viewer else None
        if viewer and not viewer.alive():
            raise RuntimeError("the viewer exited early:\n" + viewer.stderr_tail())
    finally:
        if viewer:
            viewer.stop()
        serve.stop()
    shown_at = {}
    for event in read_jsonl(serve_log):
        shown_at.setdefault(event["index"], event["t_ms"])
        if event["sha256"] != frames[event["index"]]:
            raise RuntimeError(f"farview frame {event['index']}: hash differs from the PNG's")
    return {"server_cpu": cpu1 - cpu0, "cpu_parts": {"farview serve": cpu1 - cpu0},
            "player_cpu": None, "viewer_cpu": viewer_cpu,
            "frame_t_ms": [shown_at.get(i) for i in range(len(frames))],
            "updates": read_jsonl(view_log)}


def session_x(ctx, seq, encoding, folder, kind):
    frames = seq["sha256"]
    width, height = seq["width"], seq["height"]
    port = free_port()
    view_log = os.path.join(folder, "view-frames.jsonl")
    play_log = os.path.join(folder, "player-frames.jsonl")
    playback = (len(frames) - 1) / ctx.fps
    procs = []
    try:
        if kind == "xvnc":
            xserver, display = start_x_server(
                "Xvnc", ["-SecurityTypes", "None", "-rfbport", str(port), "-localhost"],
                width, height, folder)
            procs.append(xserver)
            servers = [("Xvnc", xserver)]
        else:
            xserver, display = start_x_server("Xvfb", [], width, height, folder)
            procs.append(xserver)
            extra = ["-noxdamage"] if kind == "x11vnc-noxdamage" else []
            x11vnc = Proc("x11vnc", ["x11vnc", "-display", display, "-rfbport", str(port),
                                     *X11VNC_COMMON, *extra], folder)
            procs.append(x11vnc)
            servers = [("x11vnc", x11vnc), ("Xvfb", xserver)]
        env = dict(os.environ, DISPLAY=display)
        player = Proc("player", [sys.executable, os.path.abspath(__file__), "_play",
                                 "--file", seq["player_file"], "--fps", str(ctx.fps),
                                 "--log", play_log],
                      folder, env=env, stdin=subprocess.PIPE, stdout_pipe=True)
        procs.append(player)
        wait_until(f"{kind} to listen", lambda: listening(port), 30, procs)
        line = read_line(player, 120)
        if line != "ready":
            raise RuntimeError(f"player said {line!r}")
        cpu0 = {name: p.cpu() for name, p in servers}
        viewer = None
        if encoding:
            viewer = Proc("viewer", viewer_argv(ctx.farview, port, encoding, view_log,
                                                playback + TAIL_SECONDS + 20), folder)
            procs.append(viewer)
            ctx.commands.setdefault(kind, ([s.argv for _, s in servers] + [player.argv],
                                           viewer.argv))
            # Play once the viewer shows frame 0 (x11vnc polls before its first update).
            try:
                wait_until("the viewer to show frame 0",
                           lambda: log_has_update(view_log, frames[0]), 10, procs)
            except RuntimeError as error:
                note(f"  warning: {error}; playing anyway")
        player.popen.stdin.write(b"go\n")
        player.popen.stdin.flush()
        line = read_line(player, playback + 60)
        if not line.startswith("done "):
            raise RuntimeError(f"player said {line!r}")
        report = json.loads(line[5:])
        time.sleep(TAIL_SECONDS)
        cpu1 = {name: p.cpu() for name, p in servers}
        viewer_cpu = viewer.cpu() if viewer else None
        if viewer and not viewer.alive():
            raise RuntimeError("the viewer exited early:\n" + viewer.stderr_tail())
    finally:
        for proc in reversed(procs):
            if proc.name == "player" and proc.alive():
                try:
                    proc.popen.stdin.close()
                except OSError:
                    pass
            proc.stop()
    parts = {name: cpu1[name] - cpu0[name] for name, _ in servers}
    times = {e["index"]: e["t_ms"] for e in read_jsonl(play_log)}
    return {"server_cpu": sum(parts.values()), "cpu_parts": parts,
            "player_cpu": report["cpu_s"], "player_late_ms": [report["late_ms_p50"],
                                                              report["late_ms_max"]],
            "viewer_cpu": viewer_cpu,
            "frame_t_ms": [times.get(i) for i in range(len(frames))],
            "updates": read_jsonl(view_log)}


def analyse(seq, result):
    """Bytes, updates, frames shown and latency from the frame logs. Runs of identical
    consecutive frames count as one frame (one state of the screen)."""
    frames = seq["sha256"]
    updates = result.pop("updates")
    times = result.pop("frame_t_ms")
    states = []  # (first index, hash)
    for index, sha in enumerate(frames):
        if not states or states[-1][1] != sha:
            states.append((index, sha))
    by_hash = {}
    for u in updates:
        by_hash.setdefault(u["sha256"], []).append(u["t_ms"])
    shown, latencies = 0, []
    for number, (index, sha) in enumerate(states):
        start = times[index]
        seen = by_hash.get(sha, [])
        if number == 0:
            shown += bool(seen)
            continue
        if start is None:
            continue
        after = [t for t in seen if t >= start - MATCH_SLACK_MS]
        if after:
            shown += 1
            latencies.append(max(0.0, min(after) - start))
    latencies.sort()
    result.update({
        "bytes": sum(u["bytes"] for u in updates),
        "update_count": len(updates),
        "shown": shown,
        "states": len(states),
        "latency_p50_ms": statistics.median(latencies) if latencies else None,
        "latency_p95_ms": (latencies[round(0.95 * (len(latencies) - 1))]
                           if latencies else None),
    })
    return result


# ---------------------------------------------------------------------------------------------
# The table.


def fmt_bytes(n):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


def spread(values, digits):
    if len(values) < 2:
        return f"{statistics.median(values):.{digits}f}"
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def table(results, sequences, encodings, servers):
    def idle(seq, server):
        rs = results.get((seq, None, server))
        return statistics.median([r["server_cpu"] for r in rs]) if rs else None

    lines = [
        "| sequence | encoding | server | updates | bytes | bytes vs TigerVNC | server CPU s | "
        "CPU vs TigerVNC | CPU above no viewer s | vs TigerVNC | frames shown | "
        "latency p50 ms | CPU detail (player not charged) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seq in sequences:
        for enc in encodings:
            cells = {s: results.get((seq, enc, s), []) for s in servers}
            base = cells.get(BASELINE) or []
            base_bytes = statistics.median([r["bytes"] for r in base]) if base else None
            base_cpu = statistics.median([r["server_cpu"] for r in base]) if base else None
            base_idle = idle(seq, BASELINE)
            base_above = (base_cpu - base_idle
                          if base_cpu is not None and base_idle is not None else None)
            for server in servers:
                rs = cells[server]
                if not rs:
                    lines.append(f"| {seq} | {enc} | {SERVER_LABEL[server]} | failed |"
                                 " | | | | | | | | |")
                    continue
                bytes_ = statistics.median([r["bytes"] for r in rs])
                cpu = [r["server_cpu"] for r in rs]
                ups = statistics.median([r["update_count"] for r in rs])
                shown = statistics.median([r["shown"] for r in rs])
                lat = [r["latency_p50_ms"] for r in rs if r["latency_p50_ms"] is not None]
                bytes_ratio = f"{bytes_ / base_bytes:.2f}" if base_bytes else "-"
                cpu_ratio = (f"{statistics.median(cpu) / base_cpu:.2f}"
                             if base_cpu else "-")
                parts = {}
                for r in rs:
                    for name, value in r["cpu_parts"].items():
                        parts.setdefault(name, []).append(value)
                detail = " + ".join(f"{n} {statistics.median(v):.2f}" for n, v in parts.items())
                players = [r["player_cpu"] for r in rs if r["player_cpu"] is not None]
                if players:
                    detail += f"; player {statistics.median(players):.2f}"
                latency = f"{statistics.median(lat):.0f}" if lat else "-"
                server_idle = idle(seq, server)
                above, above_ratio = "-", "-"
                if server_idle is not None:
                    value = statistics.median(cpu) - server_idle
                    above = f"{value:.2f}"
                    if base_above and base_above > 0:
                        above_ratio = f"{value / base_above:.2f}"
                lines.append(
                    f"| {seq} | {enc} | {SERVER_LABEL[server]} | {ups:.0f} | "
                    f"{fmt_bytes(bytes_)} | {bytes_ratio} | {spread(cpu, 2)} | {cpu_ratio} | "
                    f"{above} | {above_ratio} | "
                    f"{shown:.0f}/{rs[0]['states']} | {latency} | {detail} |")
    return "\n".join(lines)


def idle_table(results, sequences, servers):
    lines = [
        "Server CPU with no viewer attached, while the same frames play (the source side's "
        "cost, included in the server CPU above):",
        "",
        "| sequence | server | server CPU s | CPU detail (player not charged) |",
        "|---|---|---|---|",
    ]
    for seq in sequences:
        for server in servers:
            rs = results.get((seq, None, server), [])
            if not rs:
                lines.append(f"| {seq} | {SERVER_LABEL[server]} | failed | |")
                continue
            parts = {}
            for r in rs:
                for name, value in r["cpu_parts"].items():
                    parts.setdefault(name, []).append(value)
            detail = " + ".join(f"{n} {statistics.median(v):.2f}" for n, v in parts.items())
            players = [r["player_cpu"] for r in rs if r["player_cpu"] is not None]
            if players:
                detail += f"; player {statistics.median(players):.2f}"
            lines.append(f"| {seq} | {SERVER_LABEL[server]} | "
                         f"{spread([r['server_cpu'] for r in rs], 2)} | {detail} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def find_farview(explicit):
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    return os.path.join(target, "release", "farview")


def check_tools(ctx, servers):
    missing = []
    if not (os.path.isfile(ctx.farview) and os.access(ctx.farview, os.X_OK)):
        missing.append(f"{ctx.farview} (build it: cargo build --release --bin farview; or pass"
                       " --farview PATH)")
    needs = ["convert"]
    if "xvnc" in servers:
        needs.append("Xvnc")
    if any(s.startswith("x11vnc") for s in servers):
        needs += ["Xvfb", "x11vnc"]
    for tool in needs:
        if not shutil.which(tool):
            missing.append(tool)
    if any(s != "farview" for s in servers) and not ctypes.util.find_library("X11"):
        missing.append("libX11 (for the frame player)")
    if missing:
        fail("missing: " + "; ".join(missing) +
             "\n(packages: tigervnc-standalone-server, xvfb, x11vnc, imagemagick, libx11-6)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_play":
        parser = argparse.ArgumentParser(prog="compare_servers.py _play")
        parser.add_argument("--file", required=True)
        parser.add_argument("--fps", type=float, required=True)
        parser.add_argument("--log", required=True)
        play(parser.parse_args(sys.argv[2:]))
        return

    parser = argparse.ArgumentParser(
        description="farview vs TigerVNC Xvnc vs x11vnc on the same corpus frames, "
                    "read by the same viewer.")
    default_corpus = os.environ.get("FARVIEW_CORPUS") or os.path.join(REPO, "..", "shared",
                                                                       "corpus")
    parser.add_argument("--corpus", default=default_corpus,
                        help="corpus folder (default: $FARVIEW_CORPUS or ../shared/corpus)")
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--encodings", default="zrle,tight",
                        help="comma list; each is passed to the viewer's --encodings alone "
                             "(write a+b for a viewer list of several, e.g. copyrect+zrle, "
                             "and end with /qN to allow JPEG at quality N, e.g. tight/q8)")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help=f"comma list of {', '.join(SERVERS)}")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; medians shown")
    parser.add_argument("--frames", type=int, default=0,
                        help="only the first N frames of each sequence (quick tries)")
    parser.add_argument("--farview", help="farview binary (default: "
                        "$CARGO_TARGET_DIR/release/farview or target/release/farview)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(),
                                                        "farview-compare-cache"),
                        help="where decoded frames are kept between runs")
    parser.add_argument("--skip-no-viewer", action="store_true",
                        help="skip the sessions that measure each server's CPU while the "
                             "frames play with no viewer attached (the source side's cost: PNG "
                             "decoding for farview, X requests for Xvnc and Xvfb), and with "
                             "them the \"CPU above no viewer\" columns")
    parser.add_argument("--keep", help="keep every session's logs in this folder")
    parser.add_argument("--json", help="write every measurement to this file")
    args = parser.parse_args()
    args.no_viewer = not args.skip_no_viewer

    class Ctx:
        pass

    ctx = Ctx()
    ctx.fps = args.fps
    ctx.farview = os.path.abspath(find_farview(args.farview))
    ctx.commands = {}
    sequences = [s for s in args.sequences.split(",") if s]
    encodings = [e.replace("+", ",") for e in args.encodings.split(",") if e]
    servers = [s for s in args.servers.split(",") if s]
    for server in servers:
        if server not in SERVERS:
            fail(f"unknown server {server!r} (choose from {', '.join(SERVERS)})")
    if args.runs < 1 or args.fps <= 0:
        fail("--runs and --fps must be positive")
    check_tools(ctx, servers)
    if not os.path.isdir(args.corpus):
        fail(f"no corpus at {args.corpus} (pass --corpus DIR or set FARVIEW_CORPUS)")

    work = args.keep or tempfile.mkdtemp(prefix="farview-compare-")
    os.makedirs(work, exist_ok=True)
    prepared = {}
    for name in sequences:
        directory = os.path.join(args.corpus, name)
        if not os.path.isdir(directory):
            fail(f"no sequence {name} in {args.corpus}")
        seq = prepare(directory, args.frames, args.cache)
        if args.frames:
            # farview's replay source plays a whole folder: give it one with the first N.
            link_dir = os.path.join(work, f"frames-{name}-{args.frames}")
            os.makedirs(link_dir, exist_ok=True)
            for png in seq["pngs"]:
                link = os.path.join(link_dir, os.path.basename(png))
                if not os.path.exists(link):
                    os.symlink(png, link)
            seq["replay_dir"] = link_dir
        else:
            seq["replay_dir"] = directory
        prepared[name] = seq

    results = {}
    raw = []
    started = time.monotonic()
    for run in range(1, args.runs + 1):
        for name in sequences:
            seq = prepared[name]
            for enc in encodings + ([None] if args.no_viewer else []):
                for server in servers:
                    label = enc.replace(",", "+") if enc else "no-viewer"
                    folder = os.path.join(work, f"run{run}", name, label, server)
                    os.makedirs(folder, exist_ok=True)
                    note(f"run {run}/{args.runs}: {name} {label} {server} ...")
                    try:
                        if server == "farview":
                            result = session_farview(ctx, seq, enc, folder)
                        else:
                            result = session_x(ctx, seq, enc, folder, server)
                        result = analyse(seq, result)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                        note(f"  FAILED: {error}\n  logs in {folder}")
                        continue
                    note(f"  {result['update_count']} updates, {fmt_bytes(result['bytes'])}, "
                         f"server CPU {result['server_cpu']:.2f} s, shown "
                         f"{result['shown']}/{result['states']}")
                    results.setdefault((name, enc, server), []).append(result)
                    raw.append({"run": run, "sequence": name, "encoding": enc,
                                "server": server, **result})

    elapsed = time.monotonic() - started
    command = "python3 benches/compare_servers.py " + " ".join(sys.argv[1:])
    print(f"# compare_servers: {datetime.date.today().isoformat()}, {os.cpu_count()} cores, "
          f"fps {args.fps:g}, {args.runs} run(s), medians (min-max of server CPU), "
          f"{elapsed / 60:.1f} min")
    print(f"# command: {command}")
    for name in sequences:
        seq = prepared[name]
        states = 1 + sum(a != b for a, b in zip(seq["sha256"], seq["sha256"][1:]))
        print(f"# {name}: {seq['width']}x{seq['height']}, {len(seq['sha256'])} frames, "
              f"{states} screen states (frames that differ from the one before, plus the "
              f"first): the denominator of \"frames shown\"")
    print()
    print(table(results, sequences, encodings, servers))
    if args.no_viewer:
        print()
        print(idle_table(results, sequences, servers))
    print()
    print("# server commands (first session of each):")
    for server, (server_argv, view_argv) in ctx.commands.items():
        if server == "farview":
            print("#   " + " ".join(server_argv))
        else:
            for argv in server_argv:
                print("#   " + " ".join(argv))
    any_view = next(iter(ctx.commands.values()), None)
    if any_view:
        print("#   viewer: " + " ".join(any_view[1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    expected = (len(sequences) * (len(encodings) + args.no_viewer) * len(servers)
                * args.runs)
    if len(raw) != expected:
        note(f"compare_servers: {expected - len(raw)} of {expected} sessions failed")
        sys.exit(1)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
