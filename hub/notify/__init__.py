"""Notifications: citizens' SMS (Twilio or the recording outbox) with subscribers, outbox,
sender and webhooks; on-call staff paging and escalation; CAP 1.2 messages and their Atom feed;
sirens switched over Modbus. See README.md."""
