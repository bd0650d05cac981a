"""Policy inference: a policy version on a device answering DECISION payloads, one batched
forward pass for the pending decisions of many games.

The level below the actor and the evaluator, which both play through it (the actor sampling
as it explores, the evaluator greedy); it imports neither of them. Above it only the policy
model (`tolaria.trainer`'s encoder, network and weights) and the rules engine, whose games a
`PolicyPlayer` plays in process.
"""
