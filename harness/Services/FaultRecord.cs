namespace Dtx.Harness.Services;

/// <summary>
/// One fault window as result.json reports it: what happened to which service at which step, from when to when
/// (seconds since the load started). For a crash, the end is when the restarted process answered again.
/// </summary>
public sealed record FaultRecord(string Kind, string Target, string? Step, double AtSeconds, double? EndSeconds, string? Note = null);
