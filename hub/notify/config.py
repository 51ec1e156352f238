"""Config models of the notification channels (the `notify:` section of a site file): the SMS
provider (Twilio or the recording `outbox`), the sender's rate, concurrency and retries, the
composition limits of public messages, the Twilio webhooks and the on-call staff. Secrets (the
Twilio auth token) are named as environment variables, never written in the file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hub.configbase import EnvName, StrictModel
from hub.notify.sirens import SirensConfig
from hub.retry import BackoffConfig


class TwilioProviderConfig(StrictModel):
    """Send through Twilio's Programmable Messaging API with the official `twilio` SDK."""

    kind: Literal["twilio"] = Field(description="Provider kind.")
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Twilio Account SID (AC…); not a secret.")
    auth_token_env: EnvName = Field(description="Environment variable holding the account's Auth Token.")
    messaging_service_sid: str | None = Field(
        None, pattern=r"^MG[0-9a-fA-F]{32}$", description="Messaging Service SID (MG…); preferred over a From number."
    )
    from_number: str | None = Field(None, description="Sender number in E.164 or an alphanumeric sender id.")
    status_callback_url: str | None = Field(
        None, description="Public URL of this hub's status webhook (…/twilio/status); none = no delivery reports."
    )
    validity_period_s: int | None = Field(
        None, ge=1, le=36000, description="Twilio drops a message still queued after this many seconds."
    )
    api_url: str | None = Field(
        None, description="Base URL of the Twilio REST API when not reached directly (a relay or egress proxy)."
    )
    timeout_s: float = Field(15.0, gt=0, description="Timeout of one API request, in seconds.")

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioProviderConfig:
        if (self.messaging_service_sid is None) == (self.from_number is None):
            raise ValueError("give exactly one of 'messaging_service_sid' and 'from_number'")
        return self


class OutboxProviderConfig(StrictModel):
    """Send nothing: record every message (the demo, tests, a dry run before going live)."""

    kind: Literal["outbox"] = Field(description="Provider kind.")


ProviderConfig = Annotated[TwilioProviderConfig | OutboxProviderConfig, Field(discriminator="kind")]


class SmsConfig(StrictModel):
    """Citizen and staff SMS: provider, pace, retries and message limits."""

    provider: ProviderConfig = Field(
        default_factory=lambda: OutboxProviderConfig(kind="outbox"), description="Where messages go."
    )
    rate_per_s: float | None = Field(
        10.0, gt=0, description="Messages handed to the provider per second (its sending limit); none = no limit."
    )
    concurrency: int = Field(4, ge=1, le=64, description="Requests to the provider in flight at once.")
    max_attempts: int = Field(6, ge=1, description="Attempts per message before it is marked failed.")
    retry: BackoffConfig = Field(
        default_factory=BackoffConfig, description="Pause of the whole sender after a 429, a 5xx or a network error."
    )
    max_segments: int = Field(3, ge=1, le=10, description="Longest public message, in SMS segments.")
    transliterate: bool = Field(
        False, description="Write Bulgarian messages in Latin letters (official system): GSM-7, cheaper, 160 a segment."
    )
    catch_up_max_age_s: float = Field(
        900.0, ge=0, description="At start, alarm events stored but not yet fanned out are sent if younger than this."
    )
    counts_interval_s: float = Field(2.0, gt=0, description="Period of the per-event counts written to InfluxDB.")
    default_region: str = Field("BG", pattern=r"^[A-Z]{2}$", description="Region of phone numbers without +code.")
    signature_bg: str = Field("", description="Who warns, at the end of Bulgarian messages (e.g. 'Община Казанлък').")
    signature_en: str = Field("", description="Who warns, at the end of English messages (e.g. 'Kazanlak Municipality').")


class WebhookConfig(StrictModel):
    """The HTTP endpoints Twilio calls: delivery status and inbound SMS (STOP/START)."""

    listen_host: str = Field("127.0.0.1", description="Address the hub's HTTP server binds to.")
    listen_port: int = Field(8090, ge=0, le=65535, description="Port of the hub's HTTP server; 0 = any free port.")
    public_url: str = Field(
        description="Base URL at which Twilio reaches this server (as configured at Twilio); signatures cover it."
    )
    auth_token_env: EnvName = Field(description="Environment variable holding the Auth Token that signs webhooks.")


class StaffMember(StrictModel):
    """One person on the on-call list."""

    name: str = Field(min_length=1, description="Name, as written in the acknowledgement.")
    phone: str = Field(description="Mobile number; national Bulgarian form or E.164.")
    roles: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Hazards this person covers (flood, rain, dam, fire, earthquake, technical…); '*' = all.",
    )
    language: Literal["bg", "en"] = Field("bg", description="Language of this person's messages.")


class StaffConfig(StrictModel):
    """On-call staff: who is called first, and when the next person is called."""

    on_call: list[StaffMember] = Field(default_factory=list, description="People in calling order.")
    escalate_after_min: float = Field(
        10.0, gt=0, description="An active alarm nobody acknowledged is sent to the next person after this."
    )
    repeat_last: bool = Field(True, description="After the last person, keep reminding everyone on the list.")


class CapConfig(StrictModel):
    """CAP 1.2 messages of public alarms: written to a folder and served as an Atom feed."""

    sender: str = Field(
        pattern=r"^[^\s,<&]+$", description="CAP sender id, e.g. 'ews@kazanlak.bg' (no spaces, commas, '<' or '&')."
    )
    sender_name_bg: str = Field("", description="Who warns, in Bulgarian (CAP senderName of the bg info block).")
    sender_name_en: str = Field("", description="Who warns, in English (CAP senderName of the en info block).")
    folder: str = Field("cap", description="Folder of the XML files and feed.atom; relative to the hub's data folder.")
    public_url: str | None = Field(
        None, description="Base URL at which the hub's HTTP server is reached (links in the Atom feed); none = relative."
    )
    exercise: bool = Field(False, description="Mark every message as an exercise (status Exercise): drills.")
    circle_radius_km: float = Field(
        2.0, gt=0, description="Radius of the circle around an area's centre when the area has no polygon, km."
    )
    expires_h: float = Field(24.0, gt=0, description="CAP expires: this many hours after a message is sent.")
    feed_entries: int = Field(50, ge=1, description="Newest messages listed in the Atom feed.")


class NotifyConfig(StrictModel):
    """Notification channels. Absent sections are off."""

    sms: SmsConfig | None = Field(None, description="SMS to citizens and staff.")
    webhooks: WebhookConfig | None = Field(None, description="Twilio webhooks served by the hub.")
    staff: StaffConfig | None = Field(None, description="On-call staff and escalation.")
    cap: CapConfig | None = Field(None, description="CAP 1.2 messages and Atom feed of public alarms.")
    sirens: SirensConfig | None = Field(None, description="Sirens switched by red public alarms (Modbus coils).")
