"""The Alertmanager routing of the operations room, generated from a definition's ``alerting``
part: findings of the top unit go to its ``default_desk``, each region's to its desk (regions
grouped per desk, in the order the definition names them), pipeline alerts to the on-call,
statistical signals to the analysts, critical findings also to the duty officer.

``tabmon definition alertmanager NAME`` prints it; ops/alertmanager/alertmanager.yml is its
output for kz2007 (tests/unit/test_alertmanager.py keeps the two equal).
"""

from __future__ import annotations

from monitor.election import Definition

__all__ = ["alertmanager_config"]

PLACEHOLDER = "http://ops-webhook.invalid"
FIXED_RECEIVERS = ("ops-room", "duty-officer", "pipeline-on-call", "analysts")

_HEAD = """\
# Alertmanager for the operations room (docs/alerting.md). Subscribers (duty officers,
# observers) get findings from the monitor's own notifications; this routes the Prometheus
# alerts of ops/prometheus/rules to the room's desks.
#
# Generated from the election definition {name!r} (its alerting part) by
# `tabmon definition alertmanager {name}`: change the definition, then regenerate.
#
# Every receiver is a webhook under one base URL. The host ops-webhook.invalid is a placeholder
# (.invalid never resolves): ops/alertmanager/start.sh replaces it with $OPS_WEBHOOK_BASE_URL
# when the container starts, so the desks are reached at <base>/<receiver>.
global:
  resolve_timeout: 5m

route:
  receiver: ops-room
  group_by: [alertname, kind, rec]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    # Workers, lag, dead letters: the pipeline on-call, whatever the region.
    - matchers: ['component="pipeline"']
      receiver: pipeline-on-call
      group_by: [alertname, instance, topic, reason]
      repeat_interval: 1h

    # Statistical signals: the analysts, not the duty officer.
    - matchers: ['component="findings"', 'severity="info"']
      receiver: analysts

    # A critical finding reaches the duty officer and, below, its region's desk.
    - matchers: ['component="findings"', 'severity="critical"']
      receiver: duty-officer
      continue: true

    # Findings by region (the rec label). Regions are grouped in desks as the room sits;
    # a finding with no region (a national surge) stays with the room lead (ops-room).
    - matchers: ['component="findings"']
      receiver: ops-room
      routes:
"""

_INHIBIT = """
inhibit_rules:
  # A worker that is down also stalls, stops consuming and lags: page for the cause only.
  - source_matchers: ['alertname="TabmonWorkerDown"']
    target_matchers: ['component="pipeline"', 'alertname!="TabmonWorkerDown"']
    equal: [instance]
  # A backlog that grows while a worker is down or hung is that worker's partitions waiting.
  - source_matchers: ['component="pipeline"', 'severity="critical"']
    target_matchers: ['alertname="TabmonConsumerLagGrowing"']

receivers:
"""


def _matcher(units: list[str]) -> str:
    return f'rec="{units[0]}"' if len(units) == 1 else f'rec=~"{"|".join(units)}"'


def alertmanager_config(definition: Definition) -> str:
    """The whole alertmanager.yml for this definition's desks."""
    a = definition.file.alerting
    top = definition.file.levels[0].pattern
    desks: dict[str, list[str]] = {a.default_desk: [top]}
    for unit, desk in a.desks.items():
        desks.setdefault(desk, []).append(unit)
    out = [_HEAD.format(name=definition.name)]
    for desk, units in desks.items():
        out.append(f"        - matchers: ['{_matcher(units)}']\n          receiver: {desk}\n")
    out.append(_INHIBIT)
    for name in [*FIXED_RECEIVERS, *[d for d in desks if d not in FIXED_RECEIVERS]]:
        out.append(f"  - name: {name}\n    webhook_configs:\n      - url: {PLACEHOLDER}/{name}\n")
    return "".join(out)
