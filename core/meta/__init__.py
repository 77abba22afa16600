"""Meta-learning: episodic training of few-shot learners (torch; never imported on the CPU inference path).

Modules:
    conv4        the Conv-4 backbone (and ``InkConv4`` for the app's RGB input)
    datasets     Omniglot (zip or folder, merged + deduplicated, rotations as classes) and folder-per-class data
    sampling     seeded episodes, affine + stroke-thickness augmentation
    functional   MAML's ``FunctionalLearner``: ``clone()`` / ``adapt(loss)`` (second or first order, ANIL)
    heads        Siamese (weighted L1) and Relation heads, shared with ``core.methods``
    learners     ProtoNet / Siamese / Relation / MAML episodic learners built from a config dict
    trainer      ``EpisodicTrainer``: checkpoints, exact resume, seeds, DDP under torchrun, --init-from an encoder
    bank         a frozen encoder's embeddings of every training image (the frozen phase's fast path)
    checkpoints  checkpoint files, slim exports, bundled Omniglot models as backbones
    lake         Lake et al.'s one-shot benchmark (all_runs) and its episodes
    support_fit  helpers for embedding-level methods that fit a head on the support set
"""
