// The cluster tests start several ActorSystems and write hundreds of MB each; run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
