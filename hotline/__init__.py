"""The hotline's domain core: settings, database, reference data, calls and cases.

Telephony (``agi/``), the conversation (``ivr/``), routing decisions (``routing/``), the
Asterisk configuration (``dialplan/``) and the web desktop (``agent_ui/``) all build on it.
"""

__version__ = "0.1.0"
