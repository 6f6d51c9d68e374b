#!/usr/bin/env python3
"""How far `mapstore replicate` stays behind a writer that commits as fast as it can.

Starts a SeaweedFS (`weed server` with its S3 gateway, on free loopback ports, in a temporary
directory), a writer that commits one put per transaction in a loop (`mapstore-testhelper
commit-loop`, which prints "ack I" after each commit), and `mapstore replicate --interval S`
beside it. Each line replicate prints ("...: txn N, P pages, B bytes") is stamped when it
arrives, and so is each of the writer's acks. After --seconds the writer is stopped, replicate
ships what is pending and is stopped with SIGTERM, and the script prints:

- commits shipped per second while the writer ran (each commit, not each object);
- per shipped object: how many commits it carried, how many commits the writer was ahead
  when it landed, and the age of its oldest commit (from that commit's ack to the line);
- that a restore of the bucket gives the primary's last transaction and the same entries.

  bench/tools/replication-lag.py --mapstore .build/release/mapstore \\
      --helper .build/release/mapstore-testhelper --weed .build-venv/bin/weed [--seconds 20] [--interval 0.1] [--random]
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request


def free_ports(count):
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mapstore", required=True)
    parser.add_argument("--helper", required=True)
    parser.add_argument("--weed", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--random", action="store_true", help="random keys (fillrandom) instead of sequential ones")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="replication-lag-")
    processes = []
    try:
        ports = free_ports(8)
        key, secret = "LAGKEY", "lag-secret"
        with open(f"{work}/identities.json", "w") as f:
            json.dump({"identities": [{"name": "lag", "credentials": [{"accessKey": key, "secretKey": secret}],
                                       "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        os.mkdir(f"{work}/weed")
        weed = subprocess.Popen([args.weed, "server", f"-dir={work}/weed", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                                 f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}",
                                 f"-volume.port={ports[2]}", f"-volume.port.grpc={ports[3]}",
                                 f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
                                 "-s3", f"-s3.port={ports[6]}", f"-s3.port.grpc={ports[7]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                                 f"-s3.config={work}/identities.json", "-master.volumeSizeLimitMB=16", "-volume.max=200"],
                                stdout=open(f"{work}/weed.log", "w"), stderr=subprocess.STDOUT)
        processes.append(weed)
        endpoint = f"http://127.0.0.1:{ports[6]}"
        for _ in range(600):
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (403 without a signature)
            except Exception:
                time.sleep(0.1)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_ENDPOINT_URL=endpoint)
        db = f"{work}/primary.mapstore"
        subprocess.run([args.mapstore, "put", db, "seed", "0"], check=True, env=env, stdout=subprocess.DEVNULL)
        url = "s3://lag/run"
        # The base copy first, so the figures are about commits.
        subprocess.run([args.mapstore, "replicate", db, "--to", url, "--once"], check=True, env=env, stdout=subprocess.DEVNULL)

        acks, shipped = [], []  # (time, index) and (time, txn)
        replicate = subprocess.Popen([args.mapstore, "replicate", db, "--to", url, "--interval", str(args.interval)],
                                     env=env, stdout=subprocess.PIPE, text=True)
        processes.append(replicate)

        def read_replicate():
            for line in replicate.stdout:
                if ": txn " in line:
                    shipped.append((time.monotonic(), int(line.split(": txn ")[1].split(",")[0])))
        reader = threading.Thread(target=read_replicate, daemon=True)
        reader.start()
        writer = subprocess.Popen([args.helper, "commit-loop", db, "0"] + (["random"] if args.random else []),
                                  env=env, stdout=subprocess.PIPE, text=True)
        processes.append(writer)
        started = time.monotonic()

        def read_writer():
            for line in writer.stdout:
                if line.startswith("ack "):
                    acks.append((time.monotonic(), int(line.split()[1])))
        ack_reader = threading.Thread(target=read_writer, daemon=True)
        ack_reader.start()
        time.sleep(args.seconds)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        stopped = time.monotonic()
        ack_reader.join(timeout=5)
        stat = json.loads(subprocess.run([args.mapstore, "stat", db, "--json"], check=True, env=env,
                                         capture_output=True, text=True).stdout)
        last_txn = stat["transactionID"]
        # The last ack's commit is the newest commit (a kill between commit and ack loses an ack, not a commit).
        offset = last_txn - acks[-1][1] if acks and last_txn - acks[-1][1] in (1, 2) else None
        while not shipped or shipped[-1][1] < last_txn:
            if replicate.poll() is not None:
                sys.exit("replicate exited early")
            time.sleep(0.05)
        replicate.send_signal(signal.SIGTERM)
        status = replicate.wait(timeout=60)

        ack_time = {index + offset: t for t, index in acks} if offset is not None else {}
        first_txn = acks[0][1] + offset if offset is not None else None
        rows, previous = [], (first_txn - 1 if first_txn else None)
        for t, txn in shipped:
            if previous is None or txn <= previous:
                previous = txn
                continue
            ahead = max((index + offset for at, index in acks if at <= t), default=txn) - txn
            oldest = ack_time.get(previous + 1)
            rows.append({"commits": txn - previous, "ahead": ahead, "age": (t - oldest) if oldest else None})
            previous = txn
        during = [r for r in rows]
        commits = sum(r["commits"] for r in during)
        elapsed = (shipped[-1][0] - started) if shipped else 0
        ages = [r["age"] for r in during if r["age"] is not None]
        print(f"writer: {len(acks)} commits in {stopped - started:.1f} s ({len(acks) / (stopped - started):.0f}/s), last txn {last_txn}")
        print(f"replicate (--interval {args.interval}): {len(during)} objects, {commits} commits in {elapsed:.1f} s "
              f"({commits / elapsed if elapsed else 0:.0f} commits/s shipped), exit {status} on SIGTERM")
        if during:
            print(f"commits per object: median {percentile([r['commits'] for r in during], 0.5)}, max {max(r['commits'] for r in during)}")
            print(f"commits the writer was ahead when an object landed: median {percentile([r['ahead'] for r in during], 0.5)}, "
                  f"p99 {percentile([r['ahead'] for r in during], 0.99)}, max {max(r['ahead'] for r in during)}")
        if ages:
            print(f"age of an object's oldest commit when it landed: median {percentile(ages, 0.5):.3f} s, "
                  f"p99 {percentile(ages, 0.99):.3f} s, max {max(ages):.3f} s")
        restored = f"{work}/restored.mapstore"
        result = subprocess.run([args.mapstore, "restore", url, restored], env=env, capture_output=True, text=True)
        print(f"restore: {result.stdout.strip() or result.stderr.strip()}")
        scans = [subprocess.run([args.mapstore, "scan", path], env=env, capture_output=True, check=True).stdout for path in (db, restored)]
        print("restored entries equal the primary's" if scans[0] == scans[1] else "RESTORED ENTRIES DIFFER")
        return 0 if scans[0] == scans[1] and status == 0 else 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
