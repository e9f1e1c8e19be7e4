"""A real Elasticsearch node for the tests (and `.ci/run`), on 127.0.0.1.

The server is Elastic's `integ-test-zip` distribution from Maven Central
(`org.elasticsearch.distribution.integ-test-zip:elasticsearch:<VERSION>:zip`): the plain
server with no X-Pack features (no ILM, no data streams; security is switched off). It is
fetched once with `mvn dependency:copy` into the cache directory
`${SHIPPERS_CACHE:-/var/cache/shippers}` (outside the repository), unpacked beside the zip,
and started as a single node with a small heap, data and logs in a temporary directory.
Elasticsearch refuses to run as root, so under root the node runs as the dedicated system
user `shippers-es` (created on first use) through `runuser`.

The node is started with a tiny write thread pool (1 thread, queue of 16) so a bulk request
that spans more indices than that is really rejected item by item with 429 — the sink's
per-item retry is tested against that, not against a simulated rejection. (Measured here:
one bulk over 30 one-shard indices with a queue of 2 → 28 of 30 shard requests rejected.)

Script use (one module for pytest and CI):

    python -m tests.services.elasticsearch fetch    # download + unpack only (needs network)
    python -m tests.services.elasticsearch start    # prints ES_URL=..., leaves it running
    python -m tests.services.elasticsearch start --bench   # default write pool, 1 GB heap
    python -m tests.services.elasticsearch status
    python -m tests.services.elasticsearch stop
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import ServiceUnavailable, free_port

__all__ = ["ES_USER", "VERSION", "EsNode", "ensure_distribution", "start"]

VERSION = "8.19.7"  # runs on Java 17; 9.x would need the newer JDK under /usr/lib/jvm
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{VERSION}:zip"
ES_USER = "shippers-es"
_STATE = Path(tempfile.gettempdir()) / "shippers-elasticsearch.json"
_HOW = (
    f"needs Java 17 and the Elasticsearch {VERSION} integ-test zip in "
    "${SHIPPERS_CACHE:-/var/cache/shippers}: run `python -m tests.services.elasticsearch fetch` "
    f"(uses `mvn dependency:copy -Dartifact={ARTIFACT}`)"
)

# Node settings on top of the distribution defaults. No phone-home: this distribution has
# no geoip module (its downloader setting would be an unknown setting here), and the
# machine-learning / monitoring / telemetry features are not in it either.
BASE_SETTINGS: dict[str, object] = {
    "cluster.name": "shippers-test",
    "node.name": "shippers-test-node",
    "network.host": "127.0.0.1",
    "discovery.type": "single-node",
    "xpack.security.enabled": False,
    "action.destructive_requires_name": False,
    # A test node on a busy disk must still accept writes.
    "cluster.routing.allocation.disk.threshold_enabled": False,
    # Tiny write pool: a real source of per-item 429 (es_rejected_execution_exception).
    "thread_pool.write.size": 1,
    "thread_pool.write.queue_size": 16,
}
# For benchmarks: the distribution's default write pool (no forced rejections).
NORMAL_WRITE_POOL = ("thread_pool.write.size", "thread_pool.write.queue_size")


def cache_dir() -> Path:
    """Where the zip and the unpacked distribution live (never inside the repository)."""
    env = os.environ.get("SHIPPERS_CACHE")
    if env:
        return Path(env)
    system = Path("/var/cache/shippers")
    if (system / f"elasticsearch-{VERSION}.zip").exists() or os.access(system.parent, os.W_OK):
        return system
    return Path.home() / ".cache" / "shippers"


def ensure_distribution() -> Path:
    """The unpacked distribution's home directory; fetch and unpack when missing."""
    cache = cache_dir()
    home = cache / f"elasticsearch-{VERSION}"
    if (home / "bin" / "elasticsearch").exists():
        return home
    zip_path = cache / f"elasticsearch-{VERSION}.zip"
    if not zip_path.exists():
        _fetch(cache)
    # Unpack beside the zip, then rename: a concurrent run never sees a half tree.
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
            for info in zf.infolist():  # zipfile drops the executable bits
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(tmp / info.filename, mode)
        _make_world_readable(tmp)
        try:
            (tmp / f"elasticsearch-{VERSION}").rename(home)
        except OSError:
            if not (home / "bin" / "elasticsearch").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return home


def _fetch(cache: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable(f"`mvn` not found (apt-get install maven); {_HOW}")
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-q", "dependency:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={cache}"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0 or not (cache / f"elasticsearch-{VERSION}.zip").exists():
        out = (res.stdout + res.stderr)[-2000:]
        raise ServiceUnavailable(f"`{' '.join(cmd)}` failed ({res.returncode}): {out}")


def _make_world_readable(root: Path) -> None:
    """The node may run as another user than the one who unpacked it."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            os.chmod(p, os.stat(p).st_mode | 0o444)


def java_home() -> str:
    """A Java 17+ home: ES_JAVA_HOME, JAVA_HOME, Debian's JDK 17, or `java` on PATH."""
    for env in ("ES_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(env):
            return os.environ[env]
    for cand in ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64"):
        if Path(cand, "bin", "java").exists():
            return cand
    java = shutil.which("java")
    if java is None:
        raise ServiceUnavailable(f"no Java found (apt-get install openjdk-17-jre-headless); {_HOW}")
    return str(Path(java).resolve().parent.parent)


def _ensure_user() -> tuple[int, int] | None:
    """(uid, gid) of the dedicated user when we are root (creating it once), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(ES_USER)
    except KeyError:
        res = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ES_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode not in (0, 9):  # 9: created meanwhile by a concurrent run
            raise ServiceUnavailable(
                f"cannot create user {ES_USER}: {res.stderr.strip()}"
            ) from None
        pw = pwd.getpwnam(ES_USER)
    return pw.pw_uid, pw.pw_gid


def _yaml(settings: dict[str, object]) -> str:
    def fmt(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v) if isinstance(v, str) else str(v)

    return "".join(f"{k}: {fmt(v)}\n" for k, v in settings.items())


@dataclass
class EsNode:
    """One single-node cluster; `stop()` + `start()` restarts it on the same data and port."""

    home: str
    base_dir: str
    http_port: int
    transport_port: int
    heap: str = "512m"
    extra_settings: dict[str, object] = field(default_factory=dict)
    drop_settings: tuple[str, ...] = ()
    state_file: str | None = None  # kept up to date (pid) when the node came from one
    pid: int | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return Path(self.base_dir) / "stdout.log"

    def prepare(self) -> None:
        """Write config (copy of the distribution's), data/log/tmp dirs owned by the node user."""
        base = Path(self.base_dir)
        conf = base / "config"
        if not conf.exists():
            shutil.copytree(Path(self.home) / "config", conf)
        for sub in ("data", "logs", "tmp"):
            (base / sub).mkdir(exist_ok=True)
        settings = {
            **{k: v for k, v in BASE_SETTINGS.items() if k not in self.drop_settings},
            "http.port": self.http_port,
            "transport.port": self.transport_port,
            "path.data": str(base / "data"),
            "path.logs": str(base / "logs"),
            **self.extra_settings,
        }
        (conf / "elasticsearch.yml").write_text(_yaml(settings))
        (conf / "jvm.options.d" / "shippers.options").write_text(
            f"-Xms{self.heap}\n-Xmx{self.heap}\n-XX:-HeapDumpOnOutOfMemoryError\n"
        )
        ids = _ensure_user()
        os.chmod(base, 0o755)
        if ids is not None:
            for dirpath, _dirs, files in os.walk(base):
                os.chown(dirpath, *ids)
                for f in files:
                    os.chown(os.path.join(dirpath, f), *ids)

    def start(self, timeout: float = 120.0) -> None:
        self.prepare()
        base = Path(self.base_dir)
        env = {
            **os.environ,
            "ES_JAVA_HOME": java_home(),
            "ES_PATH_CONF": str(base / "config"),
            "ES_TMPDIR": str(base / "tmp"),
        }
        env.pop("JAVA_TOOL_OPTIONS", None)
        cmd = [str(Path(self.home) / "bin" / "elasticsearch")]
        if os.geteuid() == 0:
            # runuser keeps the environment we pass (no login shell): ES_* reach the node.
            cmd = ["runuser", "-u", ES_USER, "--", *cmd]
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=base,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stop() ends exactly this tree
            )
        self._proc, self.pid = proc, proc.pid
        if self.state_file:
            Path(self.state_file).write_text(json.dumps(self.state()))
        try:
            self._wait_ready(timeout)
        except BaseException as e:
            tail = self.log_path.read_bytes()[-3000:].decode(errors="replace")
            self.stop()
            raise ServiceUnavailable(f"Elasticsearch did not start ({e}): {tail}") from None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"exited with {self._proc.returncode}")
            if self.healthy():
                return
            time.sleep(0.5)
        raise TimeoutError(f"not ready after {timeout:.0f}s")

    def healthy(self) -> bool:
        """GET / is not served by this distribution; cluster health is."""
        url = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM to the node's own process group (runuser + the JVMs), SIGKILL if it hangs."""
        if self.pid is None:
            return
        pgid = self.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pgid):
            if self._proc is not None:
                self._proc.poll()
            time.sleep(0.2)
        if _group_alive(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._proc is not None:
            self._proc.wait(timeout=10)
        self.pid, self._proc = None, None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def state(self) -> dict[str, object]:
        return {
            "home": self.home,
            "base_dir": self.base_dir,
            "http_port": self.http_port,
            "transport_port": self.transport_port,
            "heap": self.heap,
            "pid": self.pid,
            "url": self.url,
        }


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(heap: str = "512m", timeout: float = 120.0, *, normal_write_pool: bool = False) -> EsNode:
    """Start a node on free loopback ports; ServiceUnavailable when it cannot run here."""
    try:
        home = ensure_distribution()
    except ServiceUnavailable:
        raise
    except Exception as e:
        raise ServiceUnavailable(f"cannot unpack the distribution: {e}; {_HOW}") from None
    java_home()  # fail early with the how-to when there is no Java at all
    base = tempfile.mkdtemp(prefix="shippers-es-")
    drop = NORMAL_WRITE_POOL if normal_write_pool else ()
    node = EsNode(str(home), base, free_port(), free_port(), heap=heap, drop_settings=drop)
    try:
        node.start(timeout)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return node


def attach() -> EsNode | None:
    """The node left running by `python -m tests.services.elasticsearch start`, if healthy.

    With SHIPPERS_ES_REUSE=1 the test session uses it instead of starting its own (saves
    the start-up time when iterating locally); it is left running at the end.
    """
    if not _STATE.exists():
        return None
    st = json.loads(_STATE.read_text())
    node = EsNode(
        st["home"], st["base_dir"], st["http_port"], st["transport_port"],
        heap=st.get("heap", "512m"), pid=st["pid"], state_file=str(_STATE),
    )  # fmt: skip
    return node if node.healthy() else None


def _main(argv: list[str]) -> int:
    cmd = argv[0] if argv else ""
    if cmd == "fetch":
        print(ensure_distribution())
        return 0
    if cmd == "start":
        # --bench: the default write pool and a 1 GB heap, for `shippers bench es`.
        bench = "--bench" in argv[1:]
        node = start(heap="1g" if bench else "512m", normal_write_pool=bench)
        _STATE.write_text(json.dumps(node.state()))
        print(f"ES_URL={node.url}")
        return 0
    if cmd in ("stop", "status"):
        if not _STATE.exists():
            print("not running", file=sys.stderr)
            return 1
        st = json.loads(_STATE.read_text())
        node = EsNode(
            st["home"], st["base_dir"], st["http_port"], st["transport_port"], pid=st["pid"]
        )
        if cmd == "status":
            ok = node.healthy()
            print(f"ES_URL={node.url} {'healthy' if ok else 'NOT responding'}")
            return 0 if ok else 1
        node.destroy()
        _STATE.unlink()
        return 0
    print("usage: python -m tests.services.elasticsearch fetch|start|status|stop", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
