#!/usr/bin/env python3
"""The proxy pair over an emulated WAN link, against a direct VNC session over the same link.

For each link profile (rate and round-trip time, emulated by ../shared/tools/wanlink.py) and
each workload, one session per mode runs, each through its own wanlink:

  direct-ENC  farview serve -> wanlink -> farview view --encodings ENC (zrle, tight)
  proxy       farview serve -> proxy far -> wanlink -> proxy near -> farview view
  proxy-warm  the same again on the same content, the near proxy's --cache-dir and the far
              proxy's --link-cert-dir (its certificate and what it sent each near cache)
              kept from the "proxy" session, with new far and near processes
  proxy-cut   as "proxy" (a cache of its own, cold), but the link is cut halfway through
              the sequence (its wanlink stopped) and restored after --cut-seconds (a new
              wanlink on the same port): the proxies resume the session

Workloads: corpus sequences replayed at --fps (default 10), typing into the demo desktop
(a minimal RFB client in this script types keys and times the update that draws them), and
with --idle-seconds S an idle one: a still frame (the first of terminal-scroll), whose link
bytes over S seconds after the first screen (wanlink's counts on SIGUSR1) are the link's
own chatter (direct-ENC and proxy only).
Reported: bytes across the link (wanlink's counts, both directions), frame latency p50/p95
(from the server's and the viewer's frame logs, as compare_servers.py computes it), frames
shown, keystroke-to-update p50, and the bound the proxy's p50 is held to: RTT/2 + 50 ms + the
serialization time of a mean proxy update (link bytes / updates) at the link rate.

Needs a release build (`cargo build --release --bin farview`), Python 3 standard library,
ImageMagick `convert` (for the frame hashes, as compare_servers.py), the corpus and wanlink.py
(`--corpus`, `--wanlink`; defaults ../shared/corpus and ../shared/tools/wanlink.py).
"""

import argparse
import datetime
import json
import os
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_servers as cs  # noqa: E402  (frame hashes, processes, waiting)

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILES = {"1mbit-200ms": (1000, 200), "8mbit-40ms": (8000, 40)}
SEQUENCES = ["terminal-scroll", "browser-scroll", "window-drag", "office-typing"]
# The demo's Notes window (server/src/source/demo/scene.rs): typed keys are drawn there.
NOTES = (16, 40, 488, 330)
# How long a session may take to show the last frame after the server showed it.
CATCH_UP_SECONDS = 90
TAIL_SECONDS = 1.5
# After the first screen of an idle session, before its idle time is counted.
IDLE_SETTLE_SECONDS = 3


def wanlink(ctx, name, target_port, folder, port=None):
    """A wanlink in front of 127.0.0.1:target_port (on `port`, else a free one); returns
    (proc, port, stats path)."""
    rate, rtt = ctx.profile
    stats = os.path.join(folder, f"{name}-wan.json")
    port = port or cs.free_port()
    proc = cs.Proc(name + "-wanlink", [sys.executable, ctx.wanlink, "--listen", f"127.0.0.1:{port}",
                                       "--connect", f"127.0.0.1:{target_port}",
                                       "--rate-kbit", str(rate), "--rtt-ms", str(rtt),
                                       "--stats-json", stats, "-q"], folder)
    cs.wait_until("wanlink to listen", lambda: cs.listening(port), 20, [proc])
    return proc, port, stats


def link_bytes(stats_path):
    with open(stats_path) as f:
        stats = json.load(f)
    return stats["up"]["bytes_out"] + stats["down"]["bytes_out"]


def start_pair(ctx, server_port, folder, cache_dir, label):
    """far -> wanlink -> near; returns (procs, near port, wanlink stats path, far stats)."""
    far_port = cs.free_port()
    far_stats = os.path.join(folder, f"{label}-far.json")
    key = os.path.join(folder, "link.key")
    with open(key, "w") as f:
        f.write("a link key for the benchmark\n")
    far = cs.Proc(label + "-far", [ctx.farview, "proxy", "far", "--listen", f"127.0.0.1:{far_port}",
                                   "--server", f"127.0.0.1::{server_port}",
                                   "--link-key-file", key,
                                   "--link-cert-dir", cache_dir + "-far",
                                   "--stats-json", far_stats], folder)
    cs.wait_until("the far proxy to listen", lambda: cs.listening(far_port), 30, [far])
    link, link_port, link_stats = wanlink(ctx, label, far_port, folder)
    link.target_port, link.listen_port = far_port, link_port  # to make it again after a cut
    near_port = cs.free_port()
    near = cs.Proc(label + "-near", [ctx.farview, "proxy", "near", "--listen", f"127.0.0.1:{near_port}",
                                     "--link", f"127.0.0.1:{link_port}", "--cache-dir", cache_dir,
                                     "--link-key-file", key,
                                     "--link-known-file", os.path.join(folder, "known-far")],
                   folder)
    cs.wait_until("the near proxy to listen", lambda: cs.listening(near_port), 60, [near, far, link])
    return [near, link, far], near_port, link_stats, far_stats


def stop_all(procs):
    for proc in procs:
        proc.stop()


def replay_session(ctx, seq, mode, folder, cache_dir):
    frames = seq["sha256"]
    server_port = cs.free_port()
    serve_log = os.path.join(folder, "serve-frames.jsonl")
    view_log = os.path.join(folder, "view-frames.jsonl")
    serve = cs.Proc("serve", [ctx.farview, "serve", "--source", f"replay:{seq['replay_dir']}",
                              "--fps", str(ctx.fps), "--preload", "--listen",
                              f"127.0.0.1:{server_port}", "--frame-log", serve_log], folder)
    procs = [serve]
    far_stats = None
    try:
        cs.wait_until("farview serve to listen", lambda: cs.listening(server_port), 120, [serve])
        if mode.startswith("direct-"):
            link, port, link_stats = wanlink(ctx, "direct", server_port, folder)
            procs.append(link)
            encodings = mode.removeprefix("direct-")
        else:
            pair, port, link_stats, far_stats = start_pair(ctx, server_port, folder, cache_dir, mode)
            procs += pair
            encodings = None
        playback = (len(frames) - 1) / ctx.fps
        argv = [ctx.farview, "view", f"127.0.0.1::{port}", "--headless", "--frame-log", view_log,
                "--exit-after", f"{playback + CATCH_UP_SECONDS + 60:.0f}"]
        if encodings:
            argv += ["--encodings", encodings]
        viewer = cs.Proc("viewer", argv, folder)
        procs.insert(0, viewer)
        last = len(frames) - 1
        resumed_stats = None
        if mode == "proxy-cut":
            half = last // 2
            cs.wait_until("the replay to reach its middle",
                          lambda: any(e.get("index") == half for e in cs.read_jsonl(serve_log)),
                          playback + 120, procs)
            link = pair[1]
            link.stop()
            procs.remove(link)
            time.sleep(ctx.cut_seconds)
            link, _, resumed_stats = wanlink(ctx, mode + "-resumed", link.target_port, folder,
                                             port=link.listen_port)
            procs.append(link)
        cs.wait_until("the last replayed frame",
                      lambda: any(e.get("index") == last for e in cs.read_jsonl(serve_log)),
                      playback + 120, procs)
        try:
            cs.wait_until("the viewer to show the last frame",
                          lambda: cs.log_has_update(view_log, frames[last]), CATCH_UP_SECONDS,
                          procs)
        except RuntimeError as error:
            cs.note(f"{seq['name']} {mode}: {error}")
        time.sleep(TAIL_SECONDS)
    finally:
        stop_all(procs)
    shown_at = {}
    for event in cs.read_jsonl(serve_log):
        shown_at.setdefault(event["index"], event["t_ms"])
    result = cs.analyse(seq, {"frame_t_ms": [shown_at.get(i) for i in range(len(frames))],
                              "updates": cs.read_jsonl(view_log)})
    result["link_bytes"] = link_bytes(link_stats)
    if resumed_stats:
        result["bytes_before_cut"] = result["link_bytes"]
        result["bytes_after_cut"] = link_bytes(resumed_stats)
        result["link_bytes"] += result["bytes_after_cut"]
    if far_stats and os.path.exists(far_stats):
        with open(far_stats) as f:
            result["far"] = json.load(f)
    return result


# ---------------------------------------------------------------------------------------------
# Typing: a minimal RFB client that asks for ZRLE, skips pixel data, and times each key.


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the server closed the connection")
        data += chunk
    return bytes(data)


class TypingClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        recv_exact(self.sock, 12)
        self.sock.sendall(b"RFB 003.008\n")
        count = recv_exact(self.sock, 1)[0]
        if 1 not in recv_exact(self.sock, count):
            raise RuntimeError("the server wants authentication")
        self.sock.sendall(b"\x01")
        if struct.unpack(">I", recv_exact(self.sock, 4))[0] != 0:
            raise RuntimeError("security handshake failed")
        self.sock.sendall(b"\x01")
        self.width, self.height = struct.unpack(">HH", recv_exact(self.sock, 4))
        recv_exact(self.sock, 16)
        recv_exact(self.sock, struct.unpack(">I", recv_exact(self.sock, 4))[0])
        # ZRLE only: its rectangles carry their length, so they can be skipped undecoded.
        self.sock.sendall(struct.pack(">BxHi", 2, 1, 16))
        self.request(incremental=False)

    def request(self, incremental=True):
        self.sock.sendall(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.width,
                                      self.height))

    def next_update(self):
        """Reads messages until a whole FramebufferUpdate; returns its rectangles."""
        while True:
            kind = recv_exact(self.sock, 1)[0]
            if kind == 0:
                count = struct.unpack(">xH", recv_exact(self.sock, 3))[0]
                rects = []
                for _ in range(count):
                    x, y, w, h, encoding = struct.unpack(">HHHHi", recv_exact(self.sock, 12))
                    if encoding != 16:
                        raise RuntimeError(f"unexpected encoding {encoding}")
                    recv_exact(self.sock, struct.unpack(">I", recv_exact(self.sock, 4))[0])
                    rects.append((x, y, w, h))
                self.request()
                return rects
            if kind == 2:
                continue
            if kind == 3:
                length = struct.unpack(">xxxI", recv_exact(self.sock, 7))[0]
                recv_exact(self.sock, length)
                continue
            raise RuntimeError(f"unexpected server message {kind}")

    def key(self, keysym):
        for down in (1, 0):
            self.sock.sendall(struct.pack(">BBxxI", 4, down, keysym))


def touches_notes(rect):
    x, y, w, h = rect
    nx, ny, nw, nh = NOTES
    return x < nx + nw and nx < x + w and y < ny + nh and ny < y + h


def typing_session(ctx, mode, folder, cache_dir):
    server_port = cs.free_port()
    serve = cs.Proc("serve", [ctx.farview, "serve", "--source", "demo", "--listen",
                              f"127.0.0.1:{server_port}"], folder)
    procs = [serve]
    latencies = []
    try:
        cs.wait_until("farview serve to listen", lambda: cs.listening(server_port), 30, [serve])
        if mode.startswith("direct-"):
            link, port, link_stats = wanlink(ctx, "direct", server_port, folder)
            procs.append(link)
        else:
            pair, port, link_stats, _ = start_pair(ctx, server_port, folder, cache_dir, mode)
            procs += pair
        client = TypingClient(port)
        client.next_update()
        time.sleep(1.0)
        for index in range(ctx.keys):
            # Let whatever was under way (the clock) finish, then type.
            client.sock.settimeout(0.3)
            try:
                while True:
                    client.next_update()
            except (socket.timeout, TimeoutError):
                pass
            client.sock.settimeout(30)
            typed = time.monotonic()
            client.key(0x61 + index % 26)
            while not any(touches_notes(r) for r in client.next_update()):
                pass
            latencies.append((time.monotonic() - typed) * 1000)
        client.sock.close()
    finally:
        stop_all(procs)
    return {"link_bytes": link_bytes(link_stats), "key_p50_ms": statistics.median(latencies),
            "keys": len(latencies)}


# ---------------------------------------------------------------------------------------------
# Idle: one still frame, and what the link costs once it has crossed.


def wan_bytes_now(proc, stats_path):
    """The link's bytes so far: wanlink writes its counts on SIGUSR1."""
    before = os.path.getmtime(stats_path) if os.path.exists(stats_path) else None
    proc.popen.send_signal(signal.SIGUSR1)
    cs.wait_until("wanlink's counts",
                  lambda: os.path.exists(stats_path) and os.path.getmtime(stats_path) != before,
                  10, [proc])
    time.sleep(0.1)  # written whole
    return link_bytes(stats_path)


def idle_session(ctx, frame_dir, mode, folder, cache_dir):
    server_port = cs.free_port()
    view_log = os.path.join(folder, "view-frames.jsonl")
    serve = cs.Proc("serve", [ctx.farview, "serve", "--source", f"replay:{frame_dir}",
                              "--listen", f"127.0.0.1:{server_port}"], folder)
    procs = [serve]
    try:
        cs.wait_until("farview serve to listen", lambda: cs.listening(server_port), 30, [serve])
        if mode.startswith("direct-"):
            link, port, link_stats = wanlink(ctx, "direct", server_port, folder)
            procs.append(link)
            encodings = ["--encodings", mode.removeprefix("direct-")]
        else:
            pair, port, link_stats, _ = start_pair(ctx, server_port, folder, cache_dir, mode)
            procs += pair
            link = pair[1]
            encodings = []
        procs.insert(0, cs.Proc("viewer", [ctx.farview, "view", f"127.0.0.1::{port}",
                                           "--headless", "--frame-log", view_log,
                                           "--exit-after", f"{ctx.idle_seconds + 120:.0f}"]
                                + encodings, folder))
        cs.wait_until("the first screen", lambda: cs.read_jsonl(view_log), 60, procs)
        time.sleep(IDLE_SETTLE_SECONDS)
        settled = wan_bytes_now(link, link_stats)
        time.sleep(ctx.idle_seconds)
        idle = wan_bytes_now(link, link_stats) - settled
    finally:
        stop_all(procs)
    return {"link_bytes": link_bytes(link_stats), "idle_bytes": idle,
            "idle_seconds": ctx.idle_seconds}


# ---------------------------------------------------------------------------------------------


def print_table(caption, columns, lines):
    """A second table after the main one: a caption, then Markdown rows."""
    print()
    print(caption)
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for cells in lines:
        print("| " + " | ".join(cells) + " |")


def fmt_ms(value):
    return "-" if value is None else f"{value:.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--farview", help="the farview binary (default: a release build)")
    parser.add_argument("--corpus", default=os.path.join(HERE, "..", "..", "shared", "corpus"))
    parser.add_argument("--wanlink",
                        default=os.path.join(HERE, "..", "..", "shared", "tools", "wanlink.py"))
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--modes", default="direct-zrle,direct-tight,proxy,proxy-warm")
    parser.add_argument("--frames", type=int, help="only the first N frames of each sequence")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--cut-seconds", type=float, default=1.0,
                        help="how long the link stays cut in the proxy-cut mode")
    parser.add_argument("--keys", type=int, default=20, help="keys typed per typing session")
    parser.add_argument("--no-typing", action="store_true")
    parser.add_argument("--idle-seconds", type=float, default=0,
                        help="add an idle workload (one still frame) and count the link's "
                             "bytes over this many seconds once the first screen crossed")
    parser.add_argument("--json", help="write every session's figures here")
    parser.add_argument("--keep", help="keep every session's logs in this folder")
    args = parser.parse_args()
    ctx = argparse.Namespace(farview=cs.find_farview(args.farview), fps=args.fps, keys=args.keys,
                             wanlink=os.path.abspath(args.wanlink), cut_seconds=args.cut_seconds,
                             idle_seconds=args.idle_seconds)
    if not os.path.exists(ctx.wanlink):
        cs.fail(f"no wanlink.py at {ctx.wanlink} (give --wanlink)")
    work = args.keep or tempfile.mkdtemp(prefix="farview-proxy-wan-")
    cache_root = os.path.join(tempfile.gettempdir(), "farview-compare-cache")
    modes = args.modes.split(",")
    rows = []
    started = time.monotonic()
    for profile_name in args.profiles.split(","):
        ctx.profile = PROFILES[profile_name]
        rate, rtt = ctx.profile
        workloads = [] if not args.sequences else args.sequences.split(",")
        if not args.no_typing:
            workloads.append("typing")
        if args.idle_seconds > 0:
            workloads.append("idle")
        for workload in workloads:
            seq = None
            if workload == "idle":
                # The first frame of the corpus's first sequence, still.
                idle_dir = os.path.join(work, "idle-frame")
                os.makedirs(idle_dir, exist_ok=True)
                frame = os.path.join(idle_dir, "frame-00000.png")
                if not os.path.exists(frame):
                    os.symlink(os.path.abspath(os.path.join(
                        args.corpus, SEQUENCES[0], "frame-00000.png")), frame)
            elif workload != "typing":
                directory = os.path.join(args.corpus, workload)
                seq = cs.prepare(directory, args.frames, cache_root)
                seq["replay_dir"] = directory
                if args.frames:
                    seq["replay_dir"] = os.path.join(work, f"frames-{workload}-{args.frames}")
                    os.makedirs(seq["replay_dir"], exist_ok=True)
                    for png in seq["pngs"]:
                        link = os.path.join(seq["replay_dir"], os.path.basename(png))
                        if not os.path.exists(link):
                            os.symlink(png, link)
            cache_dir = os.path.join(work, f"cache-{profile_name}-{workload}")
            for mode in modes:
                if workload == "typing" and mode in ("direct-tight", "proxy-cut"):
                    continue  # the typing client reads ZRLE only; a cut is for the replays
                if workload == "idle" and mode in ("proxy-warm", "proxy-cut"):
                    continue  # a still frame: what matters is the link's own chatter
                folder = os.path.join(work, f"{profile_name}-{workload}-{mode}")
                os.makedirs(folder, exist_ok=True)
                cs.note(f"{profile_name} {workload} {mode}")
                if workload == "typing":
                    result = typing_session(ctx, mode, folder, cache_dir)
                elif workload == "idle":
                    result = idle_session(ctx, idle_dir, mode, folder, cache_dir)
                elif mode == "proxy-cut":
                    result = replay_session(ctx, seq, mode, folder, cache_dir + "-cut")
                else:
                    result = replay_session(ctx, seq, mode, folder, cache_dir)
                result.update({"profile": profile_name, "workload": workload, "mode": mode,
                               "rate_kbit": rate, "rtt_ms": rtt})
                rows.append(result)
    elapsed = (time.monotonic() - started) / 60
    print(f"# proxy_wan: {datetime.date.today()}, fps {args.fps}, {elapsed:.1f} min")
    print("# command: python3 benches/proxy_wan.py " + " ".join(sys.argv[1:]))
    print("| profile | workload | mode | link bytes | vs best direct | vs proxy | frames shown "
          "| latency p50 ms | p95 ms | p50 bound ms | keystroke p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        same = [r for r in rows if r["profile"] == row["profile"]
                and r["workload"] == row["workload"]]
        direct = [r["link_bytes"] for r in same if r["mode"].startswith("direct-")]
        proxy = [r["link_bytes"] for r in same if r["mode"] == "proxy"]
        best = min(direct) if direct else None
        versus_best = f"{row['link_bytes'] / best:.3f}" if best else "-"
        versus_proxy = f"{row['link_bytes'] / proxy[0]:.3f}" if proxy else "-"
        bound = None
        far = row.get("far")
        if row["mode"].startswith("proxy") and far and far.get("updates"):
            mean_update = row["link_bytes"] / far["updates"]
            bound = row["rtt_ms"] / 2 + 50 + mean_update * 8 / row["rate_kbit"]
        shown = f"{row['shown']}/{row['states']}" if "shown" in row else "-"
        print(f"| {row['profile']} | {row['workload']} | {row['mode']} "
              f"| {cs.fmt_bytes(row['link_bytes'])} | {versus_best} | {versus_proxy} | {shown} "
              f"| {fmt_ms(row.get('latency_p50_ms'))} | {fmt_ms(row.get('latency_p95_ms'))} "
              f"| {fmt_ms(bound)} | {fmt_ms(row.get('key_p50_ms'))} |")
    cuts = [row for row in rows if row["mode"] == "proxy-cut"]
    if cuts:
        print_table(f"Cut for {args.cut_seconds:g} s halfway through: the link's bytes before "
                    "and after the cut, and the far proxy's resumes.",
                    ["profile", "workload", "before cut", "after cut", "resumes"],
                    [[row["profile"], row["workload"], cs.fmt_bytes(row["bytes_before_cut"]),
                      cs.fmt_bytes(row["bytes_after_cut"]),
                      str(row.get("far", {}).get("resumes", "-"))] for row in cuts])
    idles = [row for row in rows if row["workload"] == "idle"]
    if idles:
        print_table(f"Idle: one still frame; the link's bytes over {args.idle_seconds:g} s once "
                    "the first screen crossed.",
                    ["profile", "mode", "idle bytes", "bytes a second"],
                    [[row["profile"], row["mode"], str(row["idle_bytes"]),
                      f"{row['idle_bytes'] / row['idle_seconds']:.1f}"] for row in idles])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
