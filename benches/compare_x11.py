#!/usr/bin/env python3
"""Sharing a real X display: farview's x11 source, x11vnc and TigerVNC's x0vncserver
(X0tigervnc) serve the same Xvfb while a scripted workload runs, each read by the same viewer
(`farview view --headless --frame-log`).

The workload, in phases (CPU and bytes are reported per phase):
  idle      nothing changes for --idle seconds (viewers connected): the cost of an idle desktop.
  terminal  an xterm prints lines as fast as a shell loop with short sleeps lets it (scrolling).
  windows   an xterm full of text is moved around by xdotool, step by step.
  replay    corpus frames (../shared/corpus) are drawn onto the root window by the player of
            compare_servers.py at --fps; every frame's SHA-256 is known, so the viewers' frame
            logs give the update latency (frame put on the screen -> viewer shows it).

By default all three servers share one Xvfb at once, so they see exactly the same workload
(`--separately` runs the workload once per server on a fresh Xvfb instead, which also shows
the X server's own CPU per server). Measured per server: CPU seconds (utime+stime from
/proc/PID/stat), bytes the viewer received, updates, and for the replay phase frames shown and
latency p50; ratios are against x11vnc of the same run.

Python 3 standard library only (shares compare_servers.py's helpers), plus Xvfb, xterm,
xdotool, x11vnc, X0tigervnc (package tigervnc-scraping-server), ImageMagick `convert` and a
release build of farview. Not part of the test suite.

Usage: python3 benches/compare_x11.py [--servers farview,x11vnc,x0vncserver] [--runs 1]
           [--sequence terminal-scroll] [--frames N] [--fps 10] [--idle 10]
           [--encodings LIST] [--separately] [--corpus DIR] [--keep DIR] [--json FILE]
See benches/README.md for the latest figures.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_servers as common  # noqa: E402  (the shared helpers)

SERVERS = ["farview", "x11vnc", "x0vncserver"]
BASELINE = "x11vnc"
LABEL = {"farview": "farview", "x11vnc": "x11vnc", "x0vncserver": "TigerVNC x0vncserver"}
PHASES = ["idle", "terminal", "windows", "replay"]
# After the workload, how long the servers get to deliver the last changes.
TAIL_SECONDS = 1.5
# The terminal phase: lines printed, with a pause every few lines so it scrolls visibly
# rather than in one jump.
TERMINAL_LINES = 1500
# The windows phase: steps of the move, and the pause between them.
WINDOW_STEPS = 80
WINDOW_STEP_SECONDS = 0.03


def server_argv(ctx, kind, display, port):
    if kind == "farview":
        return [ctx.farview, "serve", "--source", f"x11:{display}",
                "--listen", f"127.0.0.1:{port}"]
    if kind == "x11vnc":
        return ["x11vnc", "-display", display, "-rfbport", str(port), *common.X11VNC_COMMON]
    return ["X0tigervnc", "-display", display, "-rfbport", str(port), "-SecurityTypes", "None",
            "-localhost", "-AlwaysShared"]


def x_client(display, argv, folder, name):
    return common.Proc(name, argv, folder, env=dict(os.environ, DISPLAY=display))


def run_to_end(display, argv, timeout=60):
    subprocess.run(argv, env=dict(os.environ, DISPLAY=display), check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def window_of(display, title, owner):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"],
                               env=dict(os.environ, DISPLAY=display), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL).stdout.split()
        if found:
            return found[0].decode()
        if not owner.alive():
            raise RuntimeError(f"{owner.name} exited:\n{owner.stderr_tail()}")
        time.sleep(0.05)
    raise RuntimeError(f"no window {title!r}")


def workload(ctx, seq, display, folder, marks):
    """Runs the phases on `display`, recording each phase's start in `marks` (wall-clock ms
    and a CPU sample, taken by `marks`' caller through ctx.sample). Returns the player's
    frame times for the replay phase."""

    def phase(name):
        marks.append((name, time.time() * 1000.0, ctx.sample()))
        common.note(f"  phase {name}")

    phase("idle")
    time.sleep(ctx.idle)

    phase("terminal")
    script = (f"i=0; while [ $i -lt {TERMINAL_LINES} ]; do "
              "echo \"line $i: the quick brown fox jumps over the lazy dog $(date +%N)\"; "
              "i=$((i+1)); [ $((i % 10)) -eq 0 ] && sleep 0.02; done")
    terminal = x_client(display, ["xterm", "-title", "terminal", "-geometry", "100x45+40+30",
                                  "-fn", "fixed", "-e", "sh", "-c", script], folder, "xterm-terminal")
    common.wait_until("the terminal to finish", lambda: not terminal.alive(), 120)
    terminal.stop()

    phase("windows")
    listing = x_client(display, ["xterm", "-title", "moving", "-geometry", "80x30+0+0",
                                 "-fn", "fixed", "-hold", "-e", "ls", "-l", "/usr/bin"],
                       folder, "xterm-moving")
    window = window_of(display, "moving", listing)
    width, height = seq["width"], seq["height"]
    # One xdotool per step: a chained xdotool sleeps without flushing its moves to X.
    for step in range(WINDOW_STEPS):
        x = int((width - 500) * step / WINDOW_STEPS)
        y = int((height - 420) * abs((step % 40) - 20) / 20)
        due = time.monotonic() + WINDOW_STEP_SECONDS
        run_to_end(display, ["xdotool", "windowmove", window, str(x), str(y)])
        time.sleep(max(0.0, due - time.monotonic()))
    listing.stop()

    phase("replay")
    play_log = os.path.join(folder, "player-frames.jsonl")
    player = common.Proc("player", [sys.executable, os.path.join(common.REPO, "benches",
                                                                 "compare_servers.py"),
                                    "_play", "--file", seq["player_file"], "--fps",
                                    str(ctx.fps), "--log", play_log],
                         folder, env=dict(os.environ, DISPLAY=display),
                         stdin=subprocess.PIPE, stdout_pipe=True)
    try:
        if common.read_line(player, 120) != "ready":
            raise RuntimeError("the player did not start")
        player.popen.stdin.write(b"go\n")
        player.popen.stdin.flush()
        playback = (len(seq["sha256"]) - 1) / ctx.fps
        line = common.read_line(player, playback + 60)
        if not line.startswith("done "):
            raise RuntimeError(f"player said {line!r}")
        time.sleep(TAIL_SECONDS)
        phase("end")
    finally:
        try:
            player.popen.stdin.close()
        except OSError:
            pass
        player.stop()
    times = {e["index"]: e["t_ms"] for e in common.read_jsonl(play_log)}
    return [times.get(i) for i in range(len(seq["sha256"]))]


def session(ctx, seq, kinds, folder):
    """One Xvfb shared by the servers `kinds` while the workload runs; per-server results."""
    procs, servers, viewers = [], {}, {}
    try:
        xvfb, display = common.start_x_server("Xvfb", [], seq["width"], seq["height"], folder)
        procs.append(xvfb)
        for kind in kinds:
            port = common.free_port()
            server = common.Proc(kind, server_argv(ctx, kind, display, port), folder)
            procs.append(server)
            common.wait_until(f"{kind} to listen", lambda: common.listening(port), 30, procs)
            log = os.path.join(folder, f"view-{kind}.jsonl")
            argv = [ctx.farview, "view", f"127.0.0.1::{port}", "--headless", "--frame-log", log,
                    "--exit-after", "3600"]
            if ctx.encodings:
                argv += ["--encodings", ctx.encodings]
            viewer = common.Proc(f"viewer-{kind}", argv, folder)
            procs.append(viewer)
            common.wait_until(f"the viewer of {kind} to get a picture",
                              lambda: common.read_jsonl(log), 30, procs)
            servers[kind], viewers[kind] = server, (viewer, log)
            ctx.commands.setdefault(kind, server.argv)
            ctx.commands.setdefault("viewer", argv)
        # Let the servers settle (x11vnc polls for a while after its first client).
        time.sleep(2)
        watched = dict(servers, Xvfb=xvfb)
        ctx.sample = lambda: {name: p.cpu() for name, p in watched.items()}
        marks = []
        frame_times = workload(ctx, seq, display, folder, marks)
        for name, (viewer, _) in viewers.items():
            if not viewer.alive():
                raise RuntimeError(f"the viewer of {name} exited:\n{viewer.stderr_tail()}")
    finally:
        for proc in reversed(procs):
            proc.stop()
    results = {}
    for kind in list(kinds) + ["Xvfb"]:
        result = {"phases": {}}
        for (name, start, cpu0), (_, end, cpu1) in zip(marks, marks[1:]):
            entry = {"cpu_s": cpu1[kind] - cpu0[kind], "seconds": (end - start) / 1000.0}
            if kind != "Xvfb":
                updates = [u for u in common.read_jsonl(viewers[kind][1])
                           if start <= u["t_ms"] < end]
                entry.update({"bytes": sum(u["bytes"] for u in updates),
                              "updates": len(updates)})
                if name == "replay":
                    analysed = common.analyse(seq, {"updates": updates,
                                                    "frame_t_ms": frame_times})
                    entry.update({k: analysed[k] for k in
                                  ("shown", "states", "latency_p50_ms")})
            result["phases"][name] = entry
        results[kind] = result
    return results


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(value, base):
    return f"{value / base:.2f}" if value is not None and base else "-"


def report(runs, kinds, together):
    """Markdown tables of the medians over runs."""

    def cell(kind, phase, key):
        return median([r[kind]["phases"][phase].get(key) for r in runs if kind in r])

    lines = []
    for phase in PHASES:
        lines += [f"### {phase}", "",
                  "| server | CPU s | CPU vs x11vnc | bytes | bytes vs x11vnc | updates |"
                  + (" frames shown | latency p50 ms |" if phase == "replay" else "")
                  + (" CPU % of one core |" if phase == "idle" else ""),
                  "|---|---|---|---|---|---|" + ("---|---|" if phase == "replay" else "")
                  + ("---|" if phase == "idle" else "")]
        base_cpu, base_bytes = cell(BASELINE, phase, "cpu_s"), cell(BASELINE, phase, "bytes")
        for kind in kinds + (["Xvfb"] if together else []):
            cpu = cell(kind, phase, "cpu_s")
            if kind == "Xvfb":
                row = f"| Xvfb (shared by all) | {cpu:.2f} | | | | |"
            else:
                data = cell(kind, phase, "bytes")
                row = (f"| {LABEL[kind]} | {cpu:.2f} | {ratio(cpu, base_cpu)} | "
                       f"{common.fmt_bytes(data or 0)} | {ratio(data, base_bytes)} | "
                       f"{cell(kind, phase, 'updates'):.0f} |")
            if phase == "replay":
                shown, states = cell(kind, phase, "shown"), cell(kind, phase, "states")
                latency = cell(kind, phase, "latency_p50_ms")
                row += (f" {shown:.0f}/{states:.0f} | {latency:.0f} |"
                        if shown is not None and latency is not None else " | |")
            if phase == "idle":
                seconds = cell(kind, phase, "seconds")
                row += f" {100 * cpu / seconds:.2f} |"
            lines.append(row)
        lines.append("")
    totals = ["### whole workload", "", "| server | CPU s | CPU vs x11vnc | bytes | "
              "bytes vs x11vnc |", "|---|---|---|---|---|"]

    def total(kind, key):
        return median([sum(p.get(key) or 0 for p in r[kind]["phases"].values())
                       for r in runs if kind in r])

    for kind in kinds:
        cpu, data = total(kind, "cpu_s"), total(kind, "bytes")
        totals.append(f"| {LABEL[kind]} | {cpu:.2f} | {ratio(cpu, total(BASELINE, 'cpu_s'))} | "
                      f"{common.fmt_bytes(data)} | {ratio(data, total(BASELINE, 'bytes'))} |")
    return "\n".join(lines + totals)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_corpus = os.environ.get("FARVIEW_CORPUS") or os.path.join(common.REPO, "..",
                                                                       "shared", "corpus")
    parser.add_argument("--corpus", default=default_corpus)
    parser.add_argument("--sequence", default="terminal-scroll",
                        help="corpus sequence drawn in the replay phase (its frame size is "
                             "the screen size)")
    parser.add_argument("--frames", type=int, default=0, help="only the first N frames")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of the idle phase")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--encodings", default="",
                        help="the viewer's --encodings (default: the viewer's own list)")
    parser.add_argument("--runs", type=int, default=1, help="medians over this many runs")
    parser.add_argument("--separately", action="store_true",
                        help="one server at a time, each on a fresh Xvfb")
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
    ctx.fps, ctx.idle, ctx.encodings = args.fps, args.idle, args.encodings
    ctx.farview = os.path.abspath(common.find_farview(args.farview))
    ctx.commands = {}
    kinds = [s for s in args.servers.split(",") if s]
    for kind in kinds:
        if kind not in SERVERS:
            common.fail(f"unknown server {kind!r} (choose from {', '.join(SERVERS)})")
    missing = [tool for tool in ["Xvfb", "xterm", "xdotool", "convert"]
               + (["x11vnc"] if "x11vnc" in kinds else [])
               + (["X0tigervnc"] if "x0vncserver" in kinds else []) if not shutil.which(tool)]
    if not os.access(ctx.farview, os.X_OK):
        missing.append(f"{ctx.farview} (cargo build --release --bin farview)")
    if missing:
        common.fail("missing: " + "; ".join(missing) + "\n(packages: xvfb, xterm, xdotool, "
                    "x11vnc, tigervnc-scraping-server, imagemagick)")
    directory = os.path.join(args.corpus, args.sequence)
    if not os.path.isdir(directory):
        common.fail(f"no sequence {args.sequence} in {args.corpus}")
    seq = common.prepare(directory, args.frames, args.cache)

    work = args.keep or tempfile.mkdtemp(prefix="farview-compare-x11-")
    started = time.monotonic()
    runs = []
    for run in range(1, args.runs + 1):
        groups = [[kind] for kind in kinds] if args.separately else [kinds]
        merged = {}
        for group in groups:
            folder = os.path.join(work, f"run{run}", "+".join(group))
            os.makedirs(folder, exist_ok=True)
            common.note(f"run {run}/{args.runs}: {', '.join(group)} on one Xvfb")
            results = session(ctx, seq, group, folder)
            if args.separately:
                results[f"Xvfb-{group[0]}"] = results.pop("Xvfb")
            merged.update(results)
        runs.append(merged)

    elapsed = time.monotonic() - started
    print(f"# compare_x11: {datetime.date.today().isoformat()}, {os.cpu_count()} cores, "
          f"{'one server at a time' if args.separately else 'all servers on one Xvfb'}, "
          f"{args.runs} run(s) (medians), {elapsed / 60:.1f} min")
    print("# command: python3 benches/compare_x11.py " + " ".join(sys.argv[1:]))
    print(f"# screen {seq['width']}x{seq['height']}; replay: {args.sequence}, "
          f"{len(seq['sha256'])} frames at {args.fps:g} fps; idle {args.idle:g} s")
    print()
    print(report(runs, kinds, not args.separately))
    if args.separately:
        print()
        print("X server CPU s per server's run (whole workload): " + ", ".join(
            f"{kind} {median([sum(p['cpu_s'] for p in r[f'Xvfb-{kind}']['phases'].values()) for r in runs]):.2f}"
            for kind in kinds))
    print()
    print("# commands:")
    for name, argv in ctx.commands.items():
        print(f"#   {name}: {' '.join(argv)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
