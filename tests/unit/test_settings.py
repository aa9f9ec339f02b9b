"""Settings from TABMON_* variables: types, overrides, one-line errors, masking, topic prefix."""

from __future__ import annotations

import pytest

from monitor.errors import ConfigError
from monitor.settings import Settings


def _error(env=None, **overrides) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env or {}, **overrides)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


def test_empty_env_gives_the_defaults():
    assert Settings.from_env({}) == Settings()


def test_reads_and_converts_tabmon_variables():
    s = Settings.from_env(
        {
            "TABMON_BROKER": "kafka-1:9092,kafka-2:9092",
            "TABMON_REDIS_URL": "",
            "TABMON_PARTITIONS": "12",
            "TABMON_METRICS_PORT": "0",
            "TABMON_FLUSH_INTERVAL": "2",
            "TABMON_THRESHOLD": "0.05",
            "TABMON_SEATS": " 107 ",
            "TABMON_SEAT_METHOD": "dhondt",
            "TABMON_TOPIC_PREFIX": "kz2007.",
        }
    )
    assert s.broker == "kafka-1:9092,kafka-2:9092"
    assert s.redis_url == ""
    assert s.partitions == 12 and type(s.partitions) is int
    assert s.metrics_port == 0
    assert s.flush_interval == 2.0 and type(s.flush_interval) is float
    assert s.threshold == 0.05
    assert s.seats == 107
    assert s.seat_method == "dhondt"
    assert s.topic_prefix == "kz2007."
    # untouched fields keep their defaults
    assert s.app_id == Settings().app_id and s.batch_size == Settings().batch_size


def test_only_tabmon_prefixed_names_are_read():
    env = {
        "PARTITIONS": "abc",
        "tabmon_partitions": "abc",
        "TABMON_PARTITION": "abc",
        "XTABMON_PARTITIONS": "abc",
        "TABMON_APP_ID": "drill",
    }
    s = Settings.from_env(env)
    assert s.partitions == Settings().partitions
    assert s.app_id == "drill"


def test_overrides_win_over_the_environment():
    env = {"TABMON_BROKER": "env:9092", "TABMON_PARTITIONS": "3", "TABMON_APP_ID": "from-env"}
    s = Settings.from_env(env, broker="flag:9092", partitions=5)
    assert (s.broker, s.partitions) == ("flag:9092", 5)
    assert s.app_id == "from-env"


def test_overrides_are_validated_too():
    msg = _error(seat_method="borda")
    assert "TABMON_SEAT_METHOD" in msg and "borda" in msg


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("TABMON_PARTITIONS", "abc"),
        ("TABMON_PARTITIONS", "3.5"),
        ("TABMON_METRICS_PORT", ""),
        ("TABMON_SEATS", "98 seats"),
    ],
)
def test_bad_int_names_the_variable(name, raw):
    msg = _error({name: raw})
    assert name in msg and repr(raw) in msg and "int" in msg


@pytest.mark.parametrize(
    ("name", "raw"), [("TABMON_THRESHOLD", "seven percent"), ("TABMON_FLUSH_INTERVAL", "1s")]
)
def test_bad_float_names_the_variable(name, raw):
    msg = _error({name: raw})
    assert name in msg and repr(raw) in msg and "float" in msg


@pytest.mark.parametrize("method", ["bogus", "HARE", "d'hondt", " "])
def test_bad_seat_method(method):
    msg = _error({"TABMON_SEAT_METHOD": method})
    assert "TABMON_SEAT_METHOD" in msg and repr(method) in msg


def test_the_seat_rule_comes_from_the_definition_unless_set():
    assert Settings.from_env({}).seat_overrides() == {"seats": None, "threshold": None, "method": None}
    s = Settings.from_env({"TABMON_SEATS": "107", "TABMON_THRESHOLD": "0", "TABMON_SEAT_METHOD": "dhondt"})
    assert s.seat_overrides() == {"seats": 107, "threshold": 0.0, "method": "dhondt"}
    assert "TABMON_THRESHOLD" in _error({"TABMON_THRESHOLD": "-0.5"})


@pytest.mark.parametrize("method", ["hare", "droop", "dhondt", "sainte_lague"])
def test_every_seat_method_accepted(method):
    assert Settings.from_env({"TABMON_SEAT_METHOD": method}).seat_method == method


@pytest.mark.parametrize("raw", ["1", "1.5", "-0.01", "7", "nan"])
def test_bad_threshold(raw):
    assert "TABMON_THRESHOLD" in _error({"TABMON_THRESHOLD": raw})


@pytest.mark.parametrize("raw", ["0", "0.999"])
def test_threshold_bounds_accepted(raw):
    assert Settings.from_env({"TABMON_THRESHOLD": raw}).threshold == float(raw)


@pytest.mark.parametrize(
    "name", ["TABMON_FLUSH_INTERVAL", "TABMON_SNAPSHOT_INTERVAL", "TABMON_SESSION_TIMEOUT"]
)
@pytest.mark.parametrize("raw", ["0", "-1", "-0.5", "nan"])
def test_non_positive_interval(name, raw):
    assert name in _error({name: raw})


@pytest.mark.parametrize("name", ["TABMON_PARTITIONS", "TABMON_MAX_MESSAGE_BYTES", "TABMON_BATCH_SIZE"])
def test_counts_must_be_at_least_one(name):
    assert name in _error({name: "0"})
    assert name in _error({name: "-4"})


def test_seats_are_at_least_one_or_zero_for_the_definitions():
    assert "TABMON_SEATS" in _error({"TABMON_SEATS": "-4"})
    assert Settings.from_env({"TABMON_SEATS": "0"}).seats == 0


@pytest.mark.parametrize("level", ["loud", "", "verbose"])
def test_bad_log_level(level):
    msg = _error({"TABMON_LOG_LEVEL": level})
    assert "TABMON_LOG_LEVEL" in msg and repr(level) in msg


@pytest.mark.parametrize("level", ["debug", "INFO", "warning", "Error"])
def test_log_levels_accepted(level):
    assert Settings.from_env({"TABMON_LOG_LEVEL": level}).log_level == level


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://tabmon:s3cret-pw@redis.cec.kz:6379/0", "redis://tabmon:***@redis.cec.kz:6379/0"),
        ("redis://:s3cret-pw@10.0.0.5:6379/1", "redis://:***@10.0.0.5:6379/1"),
        ("rediss://u:p@ss:w0rd@host/0", "rediss://u:***@host/0"),
    ],
)
def test_masked_hides_the_redis_password(url, shown):
    s = Settings.from_env({"TABMON_REDIS_URL": url})
    masked = s.masked()
    assert masked["redis_url"] == shown
    assert "s3cret" not in str(masked) and "w0rd" not in str(masked)
    assert s.redis_url == url  # the settings themselves keep the real URL
    others = {k: v for k, v in masked.items() if k != "redis_url"}
    assert others == {k: getattr(s, k) for k in others}
    assert set(masked) == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "", "unix:///run/redis.sock"])
def test_masked_leaves_urls_without_credentials(url):
    assert Settings.from_env({"TABMON_REDIS_URL": url}).masked()["redis_url"] == url


def test_topic_applies_the_prefix():
    s = Settings.from_env({"TABMON_TOPIC_PREFIX": "kz2007."})
    assert s.topic("turnout") == "kz2007.turnout"
    assert Settings.from_env({}, topic_prefix="drill-").topic("alerts") == "drill-alerts"
    assert Settings.from_env({}).topic("protocols") == "protocols"


def test_a_metrics_port_already_taken_is_one_clear_error_naming_the_setting():
    from prometheus_client import CollectorRegistry

    from monitor.adapters.metrics import serve_metrics
    from monitor.errors import ConfigError

    registry = CollectorRegistry()
    port = serve_metrics(registry, "127.0.0.1", 0, "TABMON_METRICS_PORT")
    assert port > 0
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port} .*; set TABMON_NOTIFY_METRICS_PORT$"):
        serve_metrics(registry, "127.0.0.1", port, "TABMON_NOTIFY_METRICS_PORT")


def test_every_topic_of_the_topics_module_is_created_with_its_prefix():
    from monitor import topics
    from monitor.adapters.admin import topic_specs

    s = Settings.from_env({}, topic_prefix="night1.", partitions=6)
    specs = topic_specs(s)
    names = [topics.REGISTRY, *topics.INPUTS, *topics.ROUTED.values()]
    names += [topics.DEADLETTER, topics.ALERTS, topics.PARTIALS]
    assert set(specs) == {f"night1.{n}" for n in names}
    assert specs["night1.registry"] == (1, {"cleanup.policy": "compact"})
    assert specs["night1.tally-partials"][0] == 1 and specs["night1.protocols"][0] == 6
    # a complete partial holds every commission of its partition: more than Kafka's 1 MB
    assert int(specs["night1.tally-partials"][1]["max.message.bytes"]) >= 8 * 1024 * 1024
