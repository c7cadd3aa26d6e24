namespace Dtx.Harness.Services;

/// <summary>What became of one planned fault (or of an exit nobody planned), as result.json's <c>outcome</c> says it.</summary>
public enum FaultOutcome
{
    /// <summary>The fault happened: the process died at its step, the server went down, the link was cut.</summary>
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
/// One fault window as result.json reports it: what happened to which service at which step, from when to when
/// (seconds since the load started), and what came of it. For a crash, the end is when the restarted process answered again.
/// </summary>
public sealed record FaultRecord(string Kind, string Target, string? Step, double AtSeconds, double? EndSeconds, string? Note = null,
    FaultOutcome Outcome = FaultOutcome.Injected);
