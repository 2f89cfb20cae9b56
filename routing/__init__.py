"""Routing: pure decisions (which queue, which priority, why) over rules data."""

from routing.decide import decide as decide
from routing.model import CallerHistory as CallerHistory
from routing.model import Decision as Decision
from routing.model import IvrOutcome as IvrOutcome
from routing.model import Platform as Platform
from routing.model import QueueState as QueueState
from routing.model import RoutingRules as RoutingRules
