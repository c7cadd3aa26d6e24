using Dtx.Shared.Failpoints;

namespace Dtx.Harness.Faults;

/// <summary>
/// <c>kind: chaos</c>: <see cref="Count"/> faults drawn from the run's seed, of every kind, spread over
/// <see cref="From"/>–<see cref="To"/>, for nightly runs that look for what no hand-written scenario thought of. The
/// same seed draws the same faults, so result.json's replay line runs the same schedule again.
/// </summary>
public sealed record ChaosPlan(int Count, TimeSpan From, TimeSpan To)
{
    // Steps every implementation that has them reaches under plain load (checkback.before-answer needs a check-back,
    // which only another fault causes, so it is left out: drawn alone it could never fire).
    private static readonly string[] Steps =
    [
        StepRoles.InitiatorAfterPrepare, StepRoles.BrokerAfterPersist, StepRoles.InitiatorBeforeCommit, StepRoles.InitiatorAfterCommit,
        StepRoles.RelayAfterPublish, StepRoles.ParticipantAfterCommit, StepRoles.ReplyRelayAfterPublish, StepRoles.InitiatorAfterReply,
    ];

    private static readonly string[] Services = ["initiator", "participant", "txbroker"];

    /// <summary>
    /// The closest two drawn faults may come: each one's window lasts three seconds (a crash: until its restart). Two
    /// deaths of one service may come further apart: the second waits until the first one's successor has served
    /// <see cref="Nemesis.MinServedBetweenDeaths"/>.
    /// </summary>
    public static readonly TimeSpan MinSpacing = TimeSpan.FromSeconds(3);

    private static readonly string[] Links =
    [
        "initiator-postgres", "initiator-rabbitmq", "participant-postgres", "participant-rabbitmq", "initiator-txbroker",
        "participant-txbroker", "txbroker-rabbitmq", "txbroker-postgres",
    ];

    /// <summary>
    /// The concrete faults for this seed: one at each of <see cref="Count"/> evenly spaced times, at least
    /// <see cref="MinSpacing"/> apart, so that each one's window (three seconds) is over before the next begins. A
    /// crashed service may still be restarting then; a crash at a step waits for its service to be healthy, and to
    /// have served a while, before it is armed, so it does not fire into a service that is down or just back.
    /// </summary>
    public IReadOnlyList<FaultPlan> Draw(int seed)
    {
        var random = new Random(seed);
        var step = (To - From) / Math.Max(1, Count - 1);
        var short3 = MinSpacing;
        var plans = new List<FaultPlan>();
        for (var i = 0; i < Count; i++)
        {
            IReadOnlyList<TimeSpan> at = [From + step * i];
            plans.Add(random.Next(9) switch
            {
                0 or 1 => new StepFault(at, Pick(random, Steps), FailpointSpec.Parse("crash@once"), TimeSpan.FromSeconds(1), TimeSpan.Zero),
                2 => new StepFault(at, Pick(random, Steps), FailpointSpec.Parse("delay(1s)@every(5)"), TimeSpan.Zero, short3),
                3 => new ServiceCrash(at, Pick(random, Services), TimeSpan.FromSeconds(1)),
                4 => new ServicePause(at, Pick(random, Services), short3),
                5 => new LinkFault(at, FaultKind.Partition, [Pick(random, Links)], short3),
                6 => new LinkFault(at, FaultKind.Latency, [Pick(random, Links)], short3, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(50)),
                7 => new LinkFault(at, FaultKind.Hang, [Pick(random, Links)], short3),
                _ => new LinkFault(at, FaultKind.ResetPeer, [Pick(random, Links)], short3),
            });
        }
        return plans;
    }

    private static string Pick(Random random, string[] from) => from[random.Next(from.Length)];
}
