using Dtx.Shared.Failpoints;

namespace Dtx.Harness.Faults;

/// <summary>A server the harness starts and can crash.</summary>
public enum Server { Postgres, Rabbitmq }

/// <summary>
/// One planned fault, possibly repeated at the times in <see cref="At"/> (from the load's start). A closed set, one
/// record per shape, so that each carries exactly the settings it needs:
/// <see cref="StepFault"/>, <see cref="ServiceCrash"/>, <see cref="ServerCrash"/>, <see cref="ServicePause"/>, <see cref="LinkFault"/>,
/// <see cref="MessageLoss"/>, <see cref="PoisonMessage"/>.
/// </summary>
public abstract record FaultPlan(IReadOnlyList<TimeSpan> At)
{
    public abstract FaultKind Kind { get; }

    /// <summary>What it hits: a step role, a service, a server, or links, as result.json's <c>target</c> names it.</summary>
    public abstract string Target { get; }

    /// <summary>The step role, for a fault at a step.</summary>
    public virtual string? Step => null;
}

/// <summary>
/// A failpoint armed at a step role (its process and failpoint depend on the implementation): <c>crash</c>, in which
/// case the process dies there and is restarted after <see cref="RestartAfter"/>; or <c>delay</c>, <c>error</c> or
/// <c>pause</c>, armed for <see cref="ArmedFor"/> (a <c>once</c> or <c>nth</c> trigger ends the window when it fires).
/// </summary>
public sealed record StepFault(IReadOnlyList<TimeSpan> At, string Role, FailpointSpec Action, TimeSpan RestartAfter, TimeSpan ArmedFor) : FaultPlan(At)
{
    public override FaultKind Kind => Action.Action switch
    {
        FailpointAction.Crash => FaultKind.Crash,
        FailpointAction.Delay => FaultKind.Delay,
        FailpointAction.Error => FaultKind.Error,
        _ => FaultKind.Pause,
    };

    public override string Target => Role;

    public override string? Step => Role;
}

/// <summary>A service's process killed with SIGKILL at a time, wherever it is, and restarted after <see cref="RestartAfter"/>.</summary>
public sealed record ServiceCrash(IReadOnlyList<TimeSpan> At, string Service, TimeSpan RestartAfter) : FaultPlan(At)
{
    public override FaultKind Kind => FaultKind.Crash;
    public override string Target => Service;
}

/// <summary>PostgreSQL or RabbitMQ killed, and restarted on the same data and port after <see cref="Downtime"/>.</summary>
public sealed record ServerCrash(IReadOnlyList<TimeSpan> At, Server Server, TimeSpan Downtime) : FaultPlan(At)
{
    public override FaultKind Kind => FaultKind.Crash;
    public override string Target => Server == Server.Postgres ? "postgres" : "rabbitmq";
}

/// <summary>A whole service stopped with SIGSTOP and continued after <see cref="Duration"/>: peers see silence, not a closed connection.</summary>
public sealed record ServicePause(IReadOnlyList<TimeSpan> At, string Service, TimeSpan Duration) : FaultPlan(At)
{
    public override FaultKind Kind => FaultKind.Pause;
    public override string Target => Service;
}

/// <summary>Which queue a message loss hits: the orders to the participant, or the replies back to the initiator.</summary>
public enum LostQueue { Orders, Replies }

/// <summary>
/// The ready messages of a queue purged: messages the broker had confirmed to their publisher, gone, as when a
/// broker restarts on a wiped disk. A purge that finds the queue empty has lost nothing and is not triggered.
/// </summary>
public sealed record MessageLoss(IReadOnlyList<TimeSpan> At, LostQueue Queue) : FaultPlan(At)
{
    public override FaultKind Kind => FaultKind.MessageLoss;
    public override string Target => Queue == LostQueue.Orders ? "orders" : "replies";
}

/// <summary>
/// A message the participant can never apply — an order with no sku, no customer and no quantity — published to the
/// orders queue with a confirm. It must be retried a bounded number of times, then parked for manual attention,
/// without holding back the orders behind it.
/// </summary>
public sealed record PoisonMessage(IReadOnlyList<TimeSpan> At) : FaultPlan(At)
{
    public override FaultKind Kind => FaultKind.PoisonMessage;
    public override string Target => "orders";
}

/// <summary>
/// Links faulted together for <see cref="Duration"/> through the Toxiproxy API: partition, latency (± jitter each
/// way), reset-peer or hang. Links are named <c>SERVICE-postgres</c>, <c>SERVICE-rabbitmq</c>, <c>PRODUCER-txbroker</c>,
/// <c>checkback-PRODUCER</c> and <c>load-initiator</c>.
/// </summary>
public sealed record LinkFault(IReadOnlyList<TimeSpan> At, FaultKind Effect, IReadOnlyList<string> Links, TimeSpan Duration,
    TimeSpan Latency = default, TimeSpan Jitter = default) : FaultPlan(At)
{
    public static readonly IReadOnlyList<FaultKind> Effects = [FaultKind.Partition, FaultKind.Latency, FaultKind.ResetPeer, FaultKind.Hang];

    public override FaultKind Kind => Effects.Contains(Effect) ? Effect : throw new ArgumentException($"{Effect} is not a link fault");
    public override string Target => string.Join(",", Links);
}
