using System.Collections.Concurrent;

namespace Dtx.Harness.Faults;

/// <summary>What a fault window did to the system, as result.json's <c>kind</c> names it.</summary>
public enum FaultKind
{
    /// <summary>A process or server killed (SIGKILL, or PostgreSQL's immediate stop) and restarted.</summary>
    Crash,
    /// <summary>A step slowed by a failpoint's delay.</summary>
    Delay,
    /// <summary>A step made to fail as if its I/O had failed.</summary>
    Error,
    /// <summary>A whole service stopped (SIGSTOP), or a step held by a failpoint's pause.</summary>
    Pause,
    /// <summary>A link closed: new connections refused, open ones cut.</summary>
    Partition,
    /// <summary>A link slowed each way.</summary>
    Latency,
    /// <summary>A link's connections reset (TCP RST).</summary>
    ResetPeer,
    /// <summary>A link silent: connections stay open and nothing gets through (Toxiproxy's timeout toxic).</summary>
    Hang,
    /// <summary>Messages RabbitMQ had confirmed are lost: a queue's ready messages purged.</summary>
    MessageLoss,
    /// <summary>A message the consumer can never apply, put in its queue.</summary>
    PoisonMessage,
}

/// <summary>What became of one planned fault (or of an exit nobody planned), as result.json's <c>outcome</c> says it.</summary>
public enum FaultOutcome
{
    /// <summary>The fault happened: the process died at its step, the server went down, the link was cut, the delay fired.</summary>
    Injected,
    /// <summary>It cannot apply to this implementation or these servers (a step or link it lacks, an external server).</summary>
    NotApplicable,
    /// <summary>It was armed but never fired, e.g. a crash at a step no request reached: the run proved nothing about it.</summary>
    NotTriggered,
    /// <summary>The fault happened but the process or server it hit did not come back.</summary>
    RestartFailed,
    /// <summary>A service exited although no fault was planned for it: a bug, an out-of-memory kill.</summary>
    UnexpectedExit,
}

/// <summary>
/// One fault window as result.json reports it: what happened to which service, server or link, at which step, from
/// when to when (seconds since the load started), and what came of it. For a crash, the end is when the restarted
/// process answered again.
/// </summary>
public sealed record FaultRecord(FaultKind Kind, string Target, string? Step, double AtSeconds, double? EndSeconds, string? Note = null,
    FaultOutcome Outcome = FaultOutcome.Injected);

/// <summary>An enum value as result.json, scenario files and reports spell it: <c>reset-peer</c>, <c>not-triggered</c>.</summary>
public static class Words
{
    public static string Of(Enum value) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());
}

/// <summary>The run's fault windows, written by the nemesis and, for exits nobody planned, by the supervisor.</summary>
public sealed class FaultLog
{
    private readonly ConcurrentQueue<FaultRecord> _records = new();

    public void Record(FaultRecord record) => _records.Enqueue(record);

    public IReadOnlyList<FaultRecord> All => [.. _records.OrderBy(f => f.AtSeconds)];
}
