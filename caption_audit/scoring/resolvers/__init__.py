"""Evidence resolvers: small registered components that judge claims (see docs/claims.md).

Each resolver looks at one kind of evidence an image has and answers, per claim, with a
:class:`~caption_audit.types.Resolution` or ``None`` when its evidence cannot speak to the
claim. :func:`caption_audit.scoring.claims.judge_claims` combines the answers.

==============  ==========================================  =================================
name            evidence                                    claim kinds
==============  ==========================================  =================================
instances       COCO instances (classes, counts, iscrowd)   object, count, identity, relation
pixels          image pixels under instance masks / boxes   colour
references      other sources' captions of the same image   count, colour, identity, open_object
detector        open-vocabulary detector boxes              object, open_object, count, colour
==============  ==========================================  =================================
"""

from caption_audit.registry import Registry
from caption_audit.scoring.resolvers.base import ImageEvidence, Resolver

RESOLVERS: Registry[type[Resolver]] = Registry("resolver")
RESOLVERS.register("instances", "caption_audit.scoring.resolvers.instances:InstancesResolver")
RESOLVERS.register("pixels", "caption_audit.scoring.resolvers.pixels:PixelsResolver")
RESOLVERS.register("references", "caption_audit.scoring.resolvers.references:ReferencesResolver")
RESOLVERS.register("detector", "caption_audit.scoring.resolvers.detector:DetectorResolver")

__all__ = ["RESOLVERS", "ImageEvidence", "Resolver"]
