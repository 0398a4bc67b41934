#!/usr/bin/env python3
"""Continuous updates against request/response over an emulated WAN link.

farview serves a corpus sequence (`serve --source replay:DIR --preload`) through wanlink.py
(a userspace link emulator: rate, round-trip delay, a bounded queue) to a viewer:

  continuous  `farview view --headless --frame-log F`: the viewer turns continuous updates
              on; the server paces them with fences (about one bandwidth-delay product in
              flight).
  requests    the same viewer with `--no-continuous-updates`: one update request at a time.
  unpaced     the same viewer with continuous updates, through a relay that drops Fence from
              its SetEncodings: the server cannot measure the path and sends whatever its
              socket takes, which shows what the congestion control is for.
  vncviewer   TigerVNC's vncviewer on its own Xvfb (it uses continuous updates and fences);
              it writes no frame log, so only bytes and bytes in flight are measured.

Measured per session: bytes in flight on the link (wanlink's server->client bytes read minus
bytes delivered: what waits in its queue or is on the wire; sampled every 100 ms with SIGUSR1
while frames play), the viewer's updates and bytes, frames shown and the latency from "frame
shown at the source" to "viewer shows it" (p50, p95), matched by SHA-256 as in
compare_servers.py, whose helpers this script shares.

Python 3 standard library only, plus a release build of farview, ImageMagick `convert` (frame
hashes), wanlink.py, and for the vncviewer mode Xvfb and vncviewer. Not part of the test suite.

Usage: python3 benches/continuous_updates.py [--sequences browser-scroll] [--links 1000/200,8000/40]
           [--modes continuous,requests,unpaced,vncviewer] [--encodings zrle] [--fps 10] [--frames N]
           [--runs 1] [--corpus DIR] [--wanlink PATH] [--keep DIR] [--json FILE]
See benches/README.md for the latest figures.
"""

import argparse
import datetime
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_servers as common  # noqa: E402  (the shared helpers)

MODES = ["continuous", "requests", "unpaced", "vncviewer"]
# After the last frame, how long the link gets to deliver what is still queued.
TAIL_SECONDS = 3.0
SAMPLE_SECONDS = 0.1
# The server's debug line on each answered fence (server/src/pacing.rs, Pacing::describe).
PACING_LINE = re.compile(r"fence answered: in flight (\d+) B, window (\d+) B, "
                         r"bandwidth (\d+|unknown)(?: B/s)?, min rtt (\d+|unknown)")


def link_label(link):
    rate, rtt = link
    return f"{rate / 1000:g} Mbit/s {rtt:g} ms"


def parse_links(text):
    links = []
    for part in text.split(","):
        rate, _, rtt = part.partition("/")
        try:
            links.append((float(rate), float(rtt)))
        except ValueError:
            common.fail(f"--links: {part!r} is not RATE_KBIT/RTT_MS")
    return links


FENCE_ENCODING = -312
# Bytes from the viewer before its first message (no security): version, security type,
# ClientInit.
HANDSHAKE_BYTES = 12 + 1 + 1


def client_message_len(buffer):
    """The length of the client message at the start of `buffer`, or None if incomplete. Only
    the messages farview's viewer sends."""
    if not buffer:
        return None
    kind = buffer[0]
    fixed = {0: 20, 3: 10, 4: 8, 5: 6, 150: 10}
    if kind in fixed:
        length = fixed[kind]
    elif kind == 2 and len(buffer) >= 4:
        length = 4 + 4 * struct.unpack(">H", buffer[2:4])[0]
    elif kind == 6 and len(buffer) >= 8:
        length = 8 + struct.unpack(">I", buffer[4:8])[0]
    elif kind == 248 and len(buffer) >= 9:
        length = 9 + buffer[8]
    elif kind == 251 and len(buffer) >= 8:
        length = 8 + 16 * buffer[6]
    elif kind in (2, 6, 248, 251):
        return None
    else:
        raise RuntimeError(f"unexpected client message type {kind}")
    return length if len(buffer) >= length else None


def without_fence(message):
    """A SetEncodings message without the Fence pseudo-encoding; other messages as they are."""
    if message[0] != 2:
        return message
    codes = struct.unpack(f">{(len(message) - 4) // 4}i", message[4:])
    kept = [c for c in codes if c != FENCE_ENCODING]
    return struct.pack(f">BxH{len(kept)}i", 2, len(kept), *kept)


def relay_without_fence(listen_port, server_port):
    """`continuous_updates.py _nofence`: one viewer's connection to the server, with Fence
    dropped from its SetEncodings (run as a process of its own)."""
    with socket.create_server(("127.0.0.1", listen_port)) as listener:
        print("READY", flush=True)
        viewer, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", server_port))
    for sock in (viewer, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending, skipped = b"", 0
    while True:
        ready, _, _ = select.select([viewer, server], [], [])
        if server in ready:
            data = server.recv(65536)
            if not data:
                return
            viewer.sendall(data)
        if viewer in ready:
            data = viewer.recv(65536)
            if not data:
                return
            if skipped < HANDSHAKE_BYTES:
                take = min(len(data), HANDSHAKE_BYTES - skipped)
                server.sendall(data[:take])
                skipped += take
                data = data[take:]
            pending += data
            while (length := client_message_len(pending)) is not None:
                server.sendall(without_fence(pending[:length]))
                pending = pending[length:]


class Wanlink:
    """wanlink.py between the viewer and the server; samples the bytes on the down link."""

    def __init__(self, ctx, server_port, link, folder):
        rate, rtt = link
        self.stats_path = os.path.join(folder, "wanlink.json")
        self.proc = common.Proc("wanlink", [
            sys.executable, ctx.wanlink, "--listen", "127.0.0.1:0",
            "--connect", f"127.0.0.1:{server_port}", "--rate-kbit", f"{rate:g}",
            "--rtt-ms", f"{rtt:g}", "--stats-json", self.stats_path, "-q"], folder,
            stdout_pipe=True)
        line = common.read_line(self.proc, 10)
        if not line.startswith("READY "):
            raise RuntimeError(f"wanlink said {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.samples = []

    def stats(self):
        try:
            with open(self.stats_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def sample(self):
        """Asks for fresh counts and records the ones written at the last request."""
        stats = self.stats()
        if stats:
            down = stats["down"]
            self.samples.append(down["bytes_in"] - down["bytes_out"])
        os.kill(self.proc.pid, signal.SIGUSR1)

    def stop(self):
        self.proc.stop()
        stats = self.stats()
        return stats["down"]["bytes_out"] if stats else None


def start_viewer(ctx, mode, port, view_log, seconds, folder):
    if mode == "vncviewer":
        xvfb, display = common.start_x_server("Xvfb", [], ctx.width + 64, ctx.height + 64, folder)
        env = dict(os.environ, DISPLAY=display, HOME=folder)
        encoding = ctx.encoding.split(",")[0]
        viewer = common.Proc("vncviewer", [
            "vncviewer", "-AutoSelect=0", "-FullColor", "-PreferredEncoding", encoding,
            "-SecurityTypes", "None", "-ReconnectOnError=0", "-AlertOnFatalError=0",
            "-RemoteResize=0", f"127.0.0.1::{port}"], folder, env=env)
        return viewer, [xvfb]
    extras = []
    if mode == "unpaced":
        relay_port = common.free_port()
        relay = common.Proc("relay", [sys.executable, os.path.abspath(__file__), "_nofence",
                                      str(relay_port), str(port)], folder, stdout_pipe=True)
        if common.read_line(relay, 10) != "READY":
            raise RuntimeError("the relay did not start")
        extras.append(relay)
        port = relay_port
    argv = common.viewer_argv(ctx.farview, port, ctx.encoding, view_log, seconds)
    if mode == "requests":
        argv.append("--no-continuous-updates")
    return common.Proc("viewer", argv, folder), extras


def session(ctx, seq, link, mode, folder):
    frames = seq["sha256"]
    port = common.free_port()
    serve_log = os.path.join(folder, "serve-frames.jsonl")
    view_log = os.path.join(folder, "view-frames.jsonl")
    playback = (len(frames) - 1) / ctx.fps
    # The session's debug log has the congestion controller's estimates.
    env = dict(os.environ, FARVIEW_LOG="info,farview_server::session=debug")
    serve = common.Proc("farview-serve", [
        ctx.farview, "serve", "--source", f"replay:{seq['replay_dir']}", "--fps", str(ctx.fps),
        "--preload", "--listen", f"127.0.0.1:{port}", "--frame-log", serve_log], folder,
        env=env)
    wan = viewer = None
    extras = []
    try:
        common.wait_until("farview serve to listen", lambda: common.listening(port), 30, [serve])
        common.wait_until("the first replayed frame", lambda: common.read_jsonl(serve_log), 60,
                          [serve])
        wan = Wanlink(ctx, port, link, folder)
        viewer, extras = start_viewer(ctx, mode, wan.port, view_log,
                                      playback + TAIL_SECONDS + 30, folder)
        procs = [serve, wan.proc, viewer] + extras
        ctx.commands.setdefault(mode, (serve.argv, wan.proc.argv, viewer.argv))
        last = len(frames) - 1
        deadline = time.monotonic() + playback + 60
        while not any(e.get("index") == last for e in common.read_jsonl(serve_log)):
            if time.monotonic() > deadline:
                raise RuntimeError("the replay never reached its last frame")
            for proc in procs:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{proc.stderr_tail()}")
            wan.sample()
            time.sleep(SAMPLE_SECONDS)
        end = time.monotonic() + TAIL_SECONDS
        while time.monotonic() < end:
            wan.sample()
            time.sleep(SAMPLE_SECONDS)
    finally:
        if viewer:
            viewer.stop()
        link_bytes = wan.stop() if wan else None
        for proc in extras:
            proc.stop()
        serve.stop()
    shown_at = {}
    for event in common.read_jsonl(serve_log):
        shown_at.setdefault(event["index"], event["t_ms"])
    samples = sorted(wan.samples)
    with open(serve.err_path, errors="replace") as f:
        pacing = [m.groups() for m in map(PACING_LINE.search, f) if m]
    windows = sorted(int(window) for _, window, _, _ in pacing)
    result = {
        "fences": len(pacing),
        "window_p50": common.percentile(windows, 50),
        "bandwidth_last": int(pacing[-1][2]) if pacing and pacing[-1][2].isdigit() else None,
        "min_rtt_last_ms": int(pacing[-1][3]) if pacing and pacing[-1][3].isdigit() else None,
        "link_bytes": link_bytes,
        "in_flight_p50": common.percentile(samples, 50),
        "in_flight_p95": common.percentile(samples, 95),
        "in_flight_max": samples[-1] if samples else None,
        "frame_t_ms": [shown_at.get(i) for i in range(len(frames))],
        "updates": common.read_jsonl(view_log),
        "server_cpu": None,
    }
    result = common.analyse(seq, result)
    if mode == "vncviewer":
        for key in ("bytes", "update_count", "shown", "latency_p50_ms", "latency_p95_ms"):
            result[key] = None
    return result


def median(results, key):
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value, unit=""):
    if value is None:
        return "n/a"
    if unit == "B":
        return common.fmt_bytes(value)
    return f"{value:.0f}{unit}"


def table(results, sequences, links, modes):
    lines = ["| sequence | link | BDP | mode | in flight p50 | p95 | max | server's window p50 "
             "(bandwidth, min RTT at the end) | bytes on the link | updates | frames shown "
             "| latency p50 ms | latency p95 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in sequences:
        for link in links:
            bdp = link[0] * 1000 / 8 * link[1] / 1000
            for mode in modes:
                rs = results.get((name, link, mode))
                if not rs:
                    continue
                shown = median(rs, "shown")
                shown_text = "n/a" if shown is None else f"{shown:.0f}/{rs[0]['states']}"
                window = median(rs, "window_p50")
                estimates = "n/a (no fences)" if window is None else (
                    f"{common.fmt_bytes(window)} ({fmt(median(rs, 'bandwidth_last'), 'B')}/s, "
                    f"{fmt(median(rs, 'min_rtt_last_ms'))} ms)")
                lines.append(
                    f"| {name} | {link_label(link)} | {common.fmt_bytes(bdp)} | {mode} "
                    f"| {fmt(median(rs, 'in_flight_p50'), 'B')} "
                    f"| {fmt(median(rs, 'in_flight_p95'), 'B')} "
                    f"| {fmt(median(rs, 'in_flight_max'), 'B')} | {estimates} "
                    f"| {fmt(median(rs, 'link_bytes'), 'B')} | {fmt(median(rs, 'update_count'))} "
                    f"| {shown_text} | {fmt(median(rs, 'latency_p50_ms'))} "
                    f"| {fmt(median(rs, 'latency_p95_ms'))} |")
    return "\n".join(lines)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "_nofence":
        relay_without_fence(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(
        description="farview: continuous updates vs request/response over an emulated link.")
    shared = os.path.join(common.REPO, "..", "shared")
    parser.add_argument("--corpus", default=os.environ.get("FARVIEW_CORPUS")
                        or os.path.join(shared, "corpus"))
    parser.add_argument("--wanlink", default=os.environ.get("FARVIEW_WANLINK")
                        or os.path.join(shared, "tools", "wanlink.py"))
    parser.add_argument("--sequences", default="browser-scroll")
    parser.add_argument("--links", default="1000/200,8000/40",
                        help="comma list of RATE_KBIT/RTT_MS")
    parser.add_argument("--modes", default="continuous,requests,unpaced,vncviewer")
    parser.add_argument("--encodings", default="zrle",
                        help="the viewer's --encodings list (a+b for several)")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=0, help="only the first N frames")
    parser.add_argument("--runs", type=int, default=1, help="runs per cell; medians shown")
    parser.add_argument("--farview", help="farview binary (default: "
                        "$CARGO_TARGET_DIR/release/farview or target/release/farview)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(),
                                                        "farview-compare-cache"))
    parser.add_argument("--keep", help="keep every session's logs in this folder")
    parser.add_argument("--json", help="write every measurement to this file")
    args = parser.parse_args()

    class Ctx:
        pass

    ctx = Ctx()
    ctx.fps = args.fps
    ctx.farview = os.path.abspath(common.find_farview(args.farview))
    ctx.wanlink = os.path.abspath(args.wanlink)
    ctx.encoding = args.encodings.replace("+", ",")
    ctx.commands = {}
    sequences = [s for s in args.sequences.split(",") if s]
    links = parse_links(args.links)
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in MODES:
            common.fail(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    missing = []
    if not os.access(ctx.farview, os.X_OK):
        missing.append(f"{ctx.farview} (cargo build --release --bin farview)")
    if not os.path.isfile(ctx.wanlink):
        missing.append(f"{ctx.wanlink} (pass --wanlink PATH or set FARVIEW_WANLINK)")
    tools = ["convert"] + (["Xvfb", "vncviewer"] if "vncviewer" in modes else [])
    missing += [tool for tool in tools if not shutil.which(tool)]
    if not os.path.isdir(args.corpus):
        missing.append(f"corpus {args.corpus} (pass --corpus DIR or set FARVIEW_CORPUS)")
    if missing:
        common.fail("missing: " + "; ".join(missing))

    work = args.keep or tempfile.mkdtemp(prefix="farview-cu-")
    os.makedirs(work, exist_ok=True)
    prepared = {}
    for name in sequences:
        seq = common.prepare(os.path.join(args.corpus, name), args.frames, args.cache)
        if args.frames:
            link_dir = os.path.join(work, f"frames-{name}-{args.frames}")
            os.makedirs(link_dir, exist_ok=True)
            for png in seq["pngs"]:
                link = os.path.join(link_dir, os.path.basename(png))
                if not os.path.exists(link):
                    os.symlink(png, link)
            seq["replay_dir"] = link_dir
        else:
            seq["replay_dir"] = seq["dir"]
        prepared[name] = seq

    results, raw = {}, []
    started = time.monotonic()
    for run in range(1, args.runs + 1):
        for name in sequences:
            seq = prepared[name]
            ctx.width, ctx.height = seq["width"], seq["height"]
            for link in links:
                for mode in modes:
                    folder = os.path.join(work, f"run{run}", name,
                                          f"{link[0]:g}-{link[1]:g}", mode)
                    os.makedirs(folder, exist_ok=True)
                    common.note(f"run {run}/{args.runs}: {name} {link_label(link)} {mode} ...")
                    try:
                        result = session(ctx, seq, link, mode, folder)
                    except (RuntimeError, OSError) as error:
                        common.note(f"  FAILED: {error}\n  logs in {folder}")
                        continue
                    common.note(f"  in flight p50 {fmt(result['in_flight_p50'], 'B')}, "
                                f"p95 {fmt(result['in_flight_p95'], 'B')}; latency p50 "
                                f"{fmt(result['latency_p50_ms'])} ms; shown {result['shown']}")
                    results.setdefault((name, link, mode), []).append(result)
                    raw.append({"run": run, "sequence": name, "link": link, "mode": mode,
                                **result})

    elapsed = time.monotonic() - started
    print(f"# continuous_updates: {datetime.date.today().isoformat()}, {os.cpu_count()} cores, "
          f"fps {args.fps:g}, encodings {ctx.encoding}, {args.runs} run(s) (medians), "
          f"{elapsed / 60:.1f} min")
    print("# command: python3 benches/continuous_updates.py " + " ".join(sys.argv[1:]))
    for name in sequences:
        seq = prepared[name]
        states = 1 + sum(a != b for a, b in zip(seq["sha256"], seq["sha256"][1:]))
        print(f"# {name}: {seq['width']}x{seq['height']}, {len(seq['sha256'])} frames, "
              f"{states} screen states")
    print()
    print(table(results, sequences, links, modes))
    print()
    for mode, argvs in ctx.commands.items():
        print(f"# {mode}: " + " | ".join(" ".join(argv) for argv in argvs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
