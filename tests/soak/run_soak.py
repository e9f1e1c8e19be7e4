"""Fault-injection soak: zero loss, zero duplicates, through real servers.

    python -m tests.soak.run_soak --size small|large [--seed N] [--workdir DIR] [--keep]

Starts SeaweedFS (S3), moto (SQS), Elasticsearch and two fault proxies on 127.0.0.1,
generates the seeded workload (tests/soak/workload.py), runs `python -m shippers run`
with a falcon-fdr and a panos-syslog source, and feeds it wave by wave while injecting,
on a schedule drawn from the seed: SIGKILL + restart of the shipper, Elasticsearch stopped
and restarted, whole-request bulk 429s (proxy) on top of the node's real per-item 429s
(tiny write queue), S3 503s and cut-off object bodies (proxy), duplicate SQS deliveries,
poison SQS messages, malformed lines and a gzip bomb. At the end it checks the ledger
against Elasticsearch, the dead-letter file, the raw archive and the summed Prometheus
counters, prints a one-line JSON verdict on stdout and exits 1 on any failure.
See docs/soak.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.services import free_port

from .proxy import FaultProxy
from .shipper import ROOT, Shipper, SyslogSender, write_config
from .verify import es_count, verify
from .workload import SIZES, Message, Workload, build

PREFIX = "soak"
MAX_LINE = 64 * 1024
FAULTS = ("sigkill", "es_restart", "bulk_429", "s3_errors", "dup_sqs", "poison", "bomb")
_WATCHED = (
    "shippers_events_delivered_total",
    "shippers_events_duplicate_total",
    "shippers_events_dead_lettered_total",
    'shippers_sqs_messages_total{outcome="given_up"}',
)


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_schedule(rng: random.Random, waves: int, kills: int, restarts: int) -> list[set[str]]:
    """Which faults hit which wave. Kills and Elasticsearch outages never share a wave
    (a kill waits for syslog traffic to be delivered, which an outage holds back)."""
    plan: list[set[str]] = [set() for _ in range(waves)]
    kill_waves = rng.sample(range(waves), min(kills, waves))
    for w in kill_waves:
        plan[w].add("sigkill")
    free = [w for w in range(waves) if w not in kill_waves] or list(range(waves))
    for w in rng.sample(free, min(restarts, len(free))):
        plan[w].add("es_restart")
    for name, k in (("bulk_429", max(2, waves // 3)), ("s3_errors", max(2, waves // 3)),
                    ("dup_sqs", max(1, waves // 4))):  # fmt: skip
        for w in rng.sample(range(waves), min(k, waves)):
            plan[w].add(name)
    plan[rng.randrange(waves)].add("poison")
    plan[rng.randrange(waves)].add("bomb")
    return plan


class Services:
    """Every server the soak started; `stop_all()` ends exactly those."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, svc: Any) -> Any:
        self.items.append(svc)
        return svc

    def stop_all(self) -> None:
        for svc in reversed(self.items):
            try:
                if hasattr(svc, "destroy"):
                    svc.destroy()
                else:
                    svc.stop()
            except Exception as e:  # cleanup must go on with the next server
                log(f"stopping {type(svc).__name__}: {e}")


class Soak:
    def __init__(
        self, size: str, seed: int, work: Path, services: Services, *, archive_sink: bool = True
    ):
        self.archive_sink = archive_sink
        self.size = size
        self.seed = seed
        self.work = work
        self.services = services
        self.cfg = SIZES[size]
        self.rng = random.Random(seed * 7919 + 1)
        self.faults: Counter[str] = Counter()
        self.lifetimes: list[dict[str, float]] = []
        self.crashes = 0
        self.senders: list[SyslogSender] = []
        self.sender_errors: list[str] = []
        self.drained = False

    # -- set-up --------------------------------------------------------------------------------
    def start_services(self) -> None:
        from tests.services import elasticsearch, moto_sqs, seaweedfs

        log("starting SeaweedFS, moto and Elasticsearch")
        with ThreadPoolExecutor(3) as ex:
            futs: dict[str, Any] = {
                "s3": ex.submit(seaweedfs.start),
                "sqs": ex.submit(moto_sqs.start),
                "es": ex.submit(elasticsearch.start),
            }
            started = {}
            errors = []
            for name, f in futs.items():
                try:
                    started[name] = self.services.add(f.result())
                except Exception as e:
                    errors.append(f"{name}: {e}")
        if errors:
            raise RuntimeError("services did not start: " + "; ".join(errors))
        self.s3srv, self.sqssrv, self.es = started["s3"], started["sqs"], started["es"]
        self.es_proxy = self.services.add(FaultProxy(self.es.url, self.seed + 1, "es").start())
        self.s3_proxy = self.services.add(
            FaultProxy(self.s3srv.endpoint, self.seed + 2, "s3").start()
        )

    def prepare(self, wl: Workload) -> None:
        from tests.services.moto_sqs import sqs_client
        from tests.services.seaweedfs import s3_client

        self.s3 = s3_client(self.s3srv.endpoint)
        self.sqs = sqs_client(self.sqssrv.endpoint)
        self.archive_bucket = "soak-archive"
        for b in (wl.bucket, self.archive_bucket):
            self.s3.create_bucket(Bucket=b)
        self.queue_url = self.sqs.create_queue(
            QueueName="soak-fdr", Attributes={"VisibilityTimeout": "10"}
        )["QueueUrl"]
        log(f"uploading {len(wl.objects)} objects")
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda o: self.s3.put_object(Bucket=wl.bucket, Key=o.key, Body=o.data),
                        wl.objects.values()))  # fmt: skip
        self.s3_proxy.set_faults(s3_bucket=wl.bucket)
        setup = subprocess.run(
            [sys.executable, "-m", "shippers", "setup", "--es", self.es.url,
             "--index-prefix", PREFIX, "--retention-days", "36500"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if setup.returncode != 0:
            raise RuntimeError(f"shippers setup failed: {setup.stdout}{setup.stderr}")
        self.syslog_port = free_port()
        ops_port = free_port()
        config = self.work / "shipper.toml"
        write_config(
            config,
            self.work,
            source={
                "queue_url": self.queue_url,
                "region": "us-east-1",
                "sqs_endpoint_url": self.sqssrv.endpoint,
                "s3_endpoint_url": self.s3_proxy.url,
                "wait_time_s": 1,
                "visibility_timeout_s": 10,
                "retry_visibility_s": 1,
                "max_receive_count": 8,
                "workers": 2,
                "max_line_bytes": MAX_LINE,
                "max_expansion_ratio": 100.0,  # the configurable gzip-bomb limit
                "archive_url": f"s3://{self.archive_bucket}/fdr",
                "archive_endpoint_url": self.s3_proxy.url,
            },
            es={
                "hosts": [self.es_proxy.url],
                "index_prefix": PREFIX,
                "retention_days": 36500,  # corpus events are from 2017-2025
                "backoff_max_s": 2.0,
            },
            archive={
                "url": f"s3://{self.archive_bucket}/fdr",
                "endpoint_url": self.s3srv.endpoint,
                "region": "us-east-1",
            }
            if self.archive_sink
            else None,
            syslog_port=self.syslog_port,
            ops_port=ops_port,
        )
        self.shipper = Shipper(config, self.work / "shipper.log", ops_port)

    # -- observation ---------------------------------------------------------------------------
    def dl_lines(self) -> int:
        p = self.work / "dead-letter.ndjson"
        return p.read_bytes().count(b"\n") if p.exists() else 0

    def queue_counts(self) -> tuple[int, int]:
        from tests.services.moto_sqs import queue_counts

        return queue_counts(self.sqs, self.queue_url)

    def counts(self) -> tuple[int, int]:
        return es_count(self.es.url, f"{PREFIX}-falcon-*"), es_count(
            self.es.url, f"{PREFIX}-panos-*"
        )

    def watch(self) -> None:
        """An unplanned shipper exit is a failure; restart it so the run still ends."""
        if not self.shipper.alive():
            self.crashes += 1
            log(f"shipper died unexpectedly:\n{self.shipper.tail()}")
            self.shipper.start()

    def scrape_stable(self) -> dict[str, float]:
        """A /metrics snapshot whose delivery counters (and the DL file) stopped moving."""
        prev, prev_dl = self.shipper.scrape(), self.dl_lines()
        for _ in range(20):
            time.sleep(1.0)
            cur, cur_dl = self.shipper.scrape(), self.dl_lines()
            watched = {k: v for k, v in cur.items() if k.startswith(_WATCHED)}
            if watched == {k: v for k, v in prev.items() if k.startswith(_WATCHED)} and (
                cur_dl == prev_dl
            ):
                return cur
            prev, prev_dl = cur, cur_dl
        log("metrics did not settle within 20 s; using the last scrape")
        return prev

    # -- faults --------------------------------------------------------------------------------
    def wait_syslog_delivered(self, expected: int, timeout: float) -> None:
        for s in self.senders:
            s.join(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.counts()[1] < expected:
            time.sleep(0.3)

    def sigkill(self, expected_panos: int) -> None:
        # Syslog has no acknowledgement: what a killed receiver holds is gone by protocol.
        # So the kill waits until the syslog sent so far is in Elasticsearch (docs/soak.md).
        self.wait_syslog_delivered(expected_panos, 120)
        self.es_proxy.hold()
        self.es_proxy.wait_drained(120)
        snap = self.scrape_stable()
        self.shipper.kill()
        self.es_proxy.drop_held()
        self.es_proxy.release()
        self.lifetimes.append(snap)
        self.faults["sigkill"] += 1
        log(f"SIGKILL #{self.faults['sigkill']}; restarting the shipper")
        self.shipper.start()

    def es_outage(self, panos: list[bytes]) -> None:
        self.es_proxy.hold()
        self.es_proxy.wait_drained(120)
        log("stopping Elasticsearch")
        self.es.stop()
        self.es_proxy.release()  # the shipper now gets 502s
        self.send_syslog(panos)  # syslog arrives while Elasticsearch is down
        time.sleep(self.rng.uniform(3, 8))
        log("starting Elasticsearch again")
        self.es.start()
        self.faults["es_restart"] += 1

    def send_syslog(self, lines: list[bytes]) -> None:
        s = SyslogSender(self.syslog_port, lines)
        s.start()
        self.senders.append(s)

    # -- the run -------------------------------------------------------------------------------
    def send(self, m: Message) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=m.body)

    def wait_done(self, fdr: int, panos: int, timeout: float, *, drained: bool) -> bool:
        """Until Elasticsearch holds what was sent so far and the queue has no visible
        message (`drained`: none in flight either — every message acknowledged)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.watch()
            f, p = self.counts()
            if f >= fdr and p >= panos:
                visible, inflight = self.queue_counts()
                if visible == 0 and (inflight == 0 or not drained):
                    return True
            time.sleep(0.5)
        try:
            sqs = {k: v for k, v in self.shipper.scrape().items() if k.startswith("shippers_sqs")}
        except Exception as e:
            sqs = {"scrape": str(e)}  # type: ignore[dict-item]
        log(
            f"not complete after {timeout:.0f}s: falcon {f}/{fdr}, panos {p}/{panos}, "
            f"queue (visible, in flight) {self.queue_counts()}, shipper {sqs}"
        )
        return False

    def run(self, wl: Workload) -> dict[str, Any]:
        plan = make_schedule(self.rng, len(wl.waves), self.cfg["kills"], self.cfg["es_restarts"])
        log("schedule: " + "; ".join(f"w{i}: {','.join(sorted(p)) or '-'}"
                                     for i, p in enumerate(plan)))  # fmt: skip
        self.shipper.start()
        fdr_expected = panos_expected = 0
        wave_timeout = 90 if self.size == "small" else 600
        sent: list[Message] = []
        for w, msgs in enumerate(wl.waves):
            p = plan[w]
            self.es_proxy.set_faults(bulk_429=0.3 if "bulk_429" in p else 0.0)
            s3_rate = 0.15 if "s3_errors" in p else 0.0
            self.s3_proxy.set_faults(s3_503=s3_rate, s3_truncate=s3_rate)
            batch = list(msgs)
            if "bomb" in p:
                batch.insert(self.rng.randrange(len(batch) + 1), wl.bomb)
                self.faults["gzip_bomb"] += 1
            if "poison" in p:
                batch += wl.poison
                self.faults["poison_message"] += len(wl.poison)
            if "dup_sqs" in p:
                # One message of this wave twice (in flight together) and one already done.
                dups = [self.rng.choice(msgs)] + ([self.rng.choice(sent)] if sent else [])
                batch += dups
                self.faults["duplicate_sqs"] += len(dups)
            for m in batch:
                self.send(m)
            sent += msgs
            wave_events = sum(
                len(wl.objects[k].events) for m in msgs for k in m.keys
                if wl.objects[k].kind == "data"
            )  # fmt: skip
            base = max(0, self.counts()[0])
            fdr_expected += wave_events
            panos = wl.panos_waves[w]
            panos_expected += sum(1 for ln in panos if b"soak-bad-panos" not in ln)
            log(f"wave {w}: {len(batch)} messages, {wave_events} FDR events, "
                f"{len(panos)} syslog lines; faults: {','.join(sorted(p)) or '-'}")  # fmt: skip
            if "es_restart" in p:
                time.sleep(self.rng.uniform(0.5, 3))
                self.es_outage(panos)
            else:
                self.send_syslog(panos)
            if "sigkill" in p:
                target = base + int(wave_events * self.rng.uniform(0.2, 0.7))
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and self.counts()[0] < target:
                    self.watch()
                    time.sleep(0.2)
                self.sigkill(panos_expected)
            # The next wave may start while messages are still in flight: waves overlap.
            self.wait_done(fdr_expected, panos_expected, wave_timeout, drained=False)
        self.es_proxy.set_faults(bulk_429=0.0)
        self.s3_proxy.set_faults(s3_503=0.0, s3_truncate=0.0)
        for s in self.senders:
            s.join(120)
            if s.error:
                self.sender_errors.append(s.error)
        self.drained = self.wait_done(fdr_expected, panos_expected, wave_timeout, drained=True)
        self.lifetimes.append(self.scrape_stable())
        code = self.shipper.terminate()
        log(f"shipper stopped with exit code {code}")
        pc = self.es_proxy.counts()
        sc = self.s3_proxy.counts()
        self.faults["bulk_429_requests"] = pc.get("bulk_429", 0)
        self.faults["s3_503"] = sc.get("s3_503", 0)
        self.faults["s3_truncated"] = sc.get("s3_truncate", 0)
        self.faults["malformed_lines"] = len(wl.ledger.fdr_bad) + len(wl.ledger.panos_bad)
        return {"exit_code": code, "plan": [sorted(x) for x in plan]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.soak.run_soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="keep state, logs, ledger and verdict here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory on success")
    ap.add_argument(
        "--without-archive-sink",
        action="store_true",
        help="diagnosis only: leave the normalized-archive sink out to isolate a failure "
        "(the raw archive, written by the source, is still checked)",
    )
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="shippers-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    services = Services()
    soak = Soak(args.size, args.seed, work, services, archive_sink=not args.without_archive_sink)
    out: dict[str, Any] = {"size": args.size, "seed": args.seed}
    if args.without_archive_sink:
        out["archive_sink"] = False
    ok = False
    try:
        with ThreadPoolExecutor(1) as ex:  # generate while the servers start
            fut = ex.submit(build, args.size, args.seed, f"cs-fdr-soak-{args.seed}", MAX_LINE)
            soak.start_services()
            wl = fut.result()
        wl.ledger.save(work / "ledger.json")
        log(f"workload: {wl.ledger.total} events in {len(wl.objects)} objects, "
            f"{len(wl.messages)} messages")  # fmt: skip
        soak.prepare(wl)
        info = soak.run(wl)
        v = verify(
            wl, soak.es.url, PREFIX, work / "dead-letter.ndjson", soak.s3,
            soak.archive_bucket, soak.lifetimes, soak.dl_lines(),
        )  # fmt: skip
        faults = dict(soak.faults)
        faults["bulk_429_items"] = v.metrics.get("bulk_items_retried_429", 0)
        missing_faults = [
            f for f in ("sigkill", "es_restart", "bulk_429_requests", "s3_503", "s3_truncated",
                        "duplicate_sqs", "poison_message", "malformed_lines", "gzip_bomb")
            if not faults.get(f)
        ]  # fmt: skip
        problems = {
            "lost": v.lost,
            "duplicated": v.duplicated,
            "unexpected_docs": v.unexpected_docs,
            "archive": not v.archive["ok"],
            "metrics": not v.metrics["ok"],
            "poison_not_dead_lettered": not v.poison_dead_lettered,
            "faults_not_injected": missing_faults,
            # A message never acknowledged (stuck in flight) is a liveness failure.
            "sqs_not_drained": not soak.drained,
            "shipper_exit_code": info["exit_code"],
            "shipper_crashes": soak.crashes,
            "syslog_send_errors": soak.sender_errors,
        }
        ok = not any(problems.values())
        out.update(
            verdict="pass" if ok else "fail",
            events=v.events,
            delivered=v.delivered,
            dead_lettered=v.dead_lettered,
            lost=v.lost,
            duplicated=v.duplicated,
            unexpected_docs=v.unexpected_docs,
            faults_injected=faults,
            archive_ok=v.archive["ok"],
            metrics_agree=v.metrics["ok"],
            shipper_lifetimes=len(soak.lifetimes),
            seconds=round(time.monotonic() - t0, 1),
        )
        if not ok:
            out["problems"] = {k: p for k, p in problems.items() if p}
        detail = {**out, "plan": info["plan"], "verify": asdict(v)}
        (work / "verdict.json").write_text(json.dumps(detail, indent=2))
        log(f"details: {json.dumps({'metrics': v.metrics, 'archive': v.archive})}")
        log(f"dead letters by reason: {v.dead_letter_reasons}")
        if v.lost_examples or v.duplicated_examples:
            log(f"examples: lost {v.lost_examples} duplicated {v.duplicated_examples}")
    except Exception as e:
        out.update(verdict="error", error=f"{type(e).__name__}: {e}",
                   seconds=round(time.monotonic() - t0, 1))  # fmt: skip
        if getattr(soak, "shipper", None) is not None:
            log(f"shipper log tail:\n{soak.shipper.tail()}")
            if soak.shipper.alive():
                soak.shipper.kill()
    finally:
        services.stop_all()
    print(json.dumps(out), flush=True)
    if ok and not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"work directory kept: {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
