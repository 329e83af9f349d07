"""iptables rule sets: iptables-restore text in, the kernel's verdict on a connection's first packet out.

    ruleset = Ruleset.parse(text)                       # or .restore(text) / .execute(["-t", "nat", ...])
    outcome = evaluate(ruleset, NfPacket(...), "output", rng=random.Random(1), ipsets=sets)
    outcome.verdict, outcome.destination, outcome.trail
    ruleset.save()                                       # iptables-save text

One evaluator serves the sidecar (istio-iptables), ambient in-pod (istio-cni) and kube-proxy rules.
"""

from meshrepro.net.netfilter.addr import Interfaces
from meshrepro.net.netfilter.evaluate import NfPacket, Outcome, evaluate
from meshrepro.net.netfilter.ipset import IPSet, IPSetError, IPSets
from meshrepro.net.netfilter.model import Matched, NetfilterSyntaxError, TrailEntry
from meshrepro.net.netfilter.ruleset import Ruleset

__all__ = ["IPSet", "IPSetError", "IPSets", "Interfaces", "Matched", "NetfilterSyntaxError", "NfPacket",
           "Outcome", "Ruleset", "TrailEntry", "evaluate"]
