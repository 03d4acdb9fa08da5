"""What the nuchal DAGs share: Assets, the warehouse pool, retry policy and the staff mail.

Kept free of heavy imports and of any I/O: the DAG processor imports this module on every parse.
Nothing here opens the warehouse; the package functions the tasks call do that at run time.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Asset, Param

# DuckDB lets one process write the file at a time. Every task that opens the warehouse runs in
# this one-slot pool, so Airflow never starts a second writer only to have it wait on the lock;
# the advisory lock in warehouse.open_warehouse still queues writers from outside Airflow (the
# BLE gateway's merge, a CLI import). `nuchal airflow-standalone` creates the pool.
WAREHOUSE_POOL = "nuchal_warehouse"
WAREHOUSE_POOL_SLOTS = 1

# Assets name the public views (SPEC contract 3) a DAG has (re)written.
IMU = Asset(name="nuchal_imu", uri="nuchal://warehouse/imu_samples", group="nuchal")
DIARY = Asset(name="nuchal_diary", uri="nuchal://warehouse/diary", group="nuchal")
FEATURES = Asset(
    name="nuchal_participant_day_features", uri="nuchal://warehouse/participant_day_features", group="nuchal"
)
PREDICTIONS = Asset(name="nuchal_predictions", uri="nuchal://warehouse/predictions", group="nuchal")
ALERTS = Asset(name="nuchal_alerts", uri="nuchal://warehouse/alerts", group="nuchal")
MODEL = Asset(name="nuchal_promoted_model", uri="nuchal://models/promoted", group="nuchal")

# Study staff who run the gateways and the cohort get the failure mails. The Airflow Variable
# wins (editable in the UI); the environment gives the default at deploy time.
STAFF_EMAIL_VARIABLE = "nuchal_staff_email"
SMTP_CONN_ID = "nuchal_smtp"


def home_param() -> Param:
    """The `home` run parameter every nuchal DAG takes (None: $NUCHAL_HOME, else ./nuchal-data)."""
    return Param(None, type=["null", "string"], description="nuchal home (default: $NUCHAL_HOME)")


def home_root(params: dict[str, Any] | None) -> str:
    """The run's nuchal home folder (from its `home` parameter), created if missing; call in tasks."""
    from nuchal.home import Home

    return str(Home.resolve((params or {}).get("home")).ensure().root)


_DEFAULT_STAFF = os.environ.get("NUCHAL_STAFF_EMAIL", "study-staff@localhost")


def _staff_notifier() -> SmtpNotifier:
    return SmtpNotifier(
        smtp_conn_id=SMTP_CONN_ID,
        to="{{ var.value.get("
        + json.dumps(STAFF_EMAIL_VARIABLE)
        + ", "
        + json.dumps(_DEFAULT_STAFF)
        + ") }}",
        from_email=os.environ.get("NUCHAL_MAIL_FROM", "nuchal-pipeline@localhost"),
        subject=(
            "[nuchal] {{ ti.dag_id }}.{{ ti.task_id }} failed for {{ ds }}"
            "{% if ti.map_index >= 0 %} (mapped #{{ ti.map_index }}){% endif %}"
        ),
        html_content=(
            "<p>The nuchal pipeline step <b>{{ ti.dag_id }}.{{ ti.task_id }}</b> failed for logical date "
            "<b>{{ ds }}</b> after try {{ ti.try_number }} of {{ ti.max_tries + 1 }}; its partition is not "
            "up to date until it is re-run.</p>"
            "<p>Error: <code>{{ exception | e }}</code></p>"
            "<p>Log: <a href='{{ ti.log_url }}'>{{ ti.log_url }}</a></p>"
            "<p>What to do: fix the cause named above (data file, disk space, warehouse lock holder), "
            "then clear the failed task in the Airflow UI or run "
            "<code>airflow tasks clear {{ ti.dag_id }} -t {{ ti.task_id }} -s {{ ds }} -e {{ ds }} --downstream</code>. "
            "The steps recompute exactly this partition.</p>"
        ),
    )


def notify_staff(context: Any) -> None:
    """Failure callback: mail study staff which step failed for which partition, and what to do.

    A fresh notifier per call, because a notifier renders its templates in place: one instance
    reused in the same process would resend the first failure's subject.
    """
    _staff_notifier()(context)


def default_args(execution_timeout: timedelta) -> dict[str, Any]:
    """Retries with exponential backoff (1, 2, 4 min...), a timeout, and the staff mail on failure.

    Transient causes (a long gateway merge holding the writer lock, a full disk being cleaned) are
    what retries are for; three retries over about a quarter of an hour ride those out before a
    person is mailed.
    """
    return {
        "owner": "nuchal",
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=20),
        "execution_timeout": execution_timeout,
        "on_failure_callback": notify_staff,
        "pool": WAREHOUSE_POOL,
    }
