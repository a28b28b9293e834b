"""Fine-tuning variants: more fine-tuned networks of the one base network, compared pairwise.

A variant is a name plus overrides of the ``finetune`` section (trainable modules,
learning rate, epochs, the fine-tuning seed, ...). Each is one more network,
``models/{name}.pt``; the render and render-free comparisons run for every pair of
networks (base, finetuned and the variants), so that "seed 0 against seed 1" (the
fine-tuning noise) stands beside "base against fine-tuned" (the fine-tuning change).

Modules: ``spec`` (names, settings and pairs from the config), ``checks`` (the config
checks), ``pairs`` (the pair comparisons and the pairwise tables), ``figures``,
``stages`` (job entry points) and ``variables`` (the paper's numbers).
"""
