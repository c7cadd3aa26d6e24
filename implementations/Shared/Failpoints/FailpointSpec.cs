using System.Globalization;
using System.Text.RegularExpressions;

namespace Dtx.Shared.Failpoints;

public enum FailpointAction { Crash, Delay, Error, Pause }

public enum FailpointTrigger { Once, EveryNth, Probability, Always, Nth }

/// <summary>
/// What an armed failpoint does and when. Written as text so that a scenario file, a command line and the HTTP
/// control endpoint all say it the same way:
/// <c>crash</c>, <c>crash@once</c>, <c>crash@nth(50)</c>, <c>delay(250ms)@every(3)</c>, <c>error@p(0.1,seed=42)</c>, <c>pause(2s)@always</c>.
/// The trigger defaults to <c>once</c> (the next hit); <c>nth(N)</c> fires once, at the Nth hit after arming.
/// <see cref="Every"/> is the N of both <c>every(N)</c> and <c>nth(N)</c>. Pause blocks like delay but is meant for long holds (a stuck process).
/// </summary>
public sealed partial record FailpointSpec(
    FailpointAction Action,
    FailpointTrigger Trigger = FailpointTrigger.Once,
    TimeSpan Duration = default,
    int Every = 1,
    double Probability = 1,
    int Seed = 0)
{
    public static FailpointSpec Parse(string text)
    {
        var match = Syntax().Match(text.Trim());
        if (!match.Success)
            throw new FormatException($"'{text}' is not a failpoint spec; expected ACTION[@TRIGGER], e.g. crash@once, delay(250ms)@every(3), error@p(0.1,seed=42)");

        var action = match.Groups["action"].Value.ToLowerInvariant() switch
        {
            "crash" => FailpointAction.Crash,
            "delay" => FailpointAction.Delay,
            "error" => FailpointAction.Error,
            "pause" => FailpointAction.Pause,
            var other => throw new FormatException($"unknown failpoint action '{other}'; use crash, delay(…), error or pause(…)"),
        };
        var duration = match.Groups["duration"].Success ? ParseDuration(match.Groups["duration"].Value) : TimeSpan.Zero;
        if (action is FailpointAction.Delay or FailpointAction.Pause && duration <= TimeSpan.Zero)
            throw new FormatException($"'{text}': {action.ToString().ToLowerInvariant()} needs a duration, e.g. delay(250ms)");

        var spec = new FailpointSpec(action, Duration: duration);
        if (!match.Groups["trigger"].Success) return spec;
        var argument = match.Groups["targ"].Value;
        return match.Groups["trigger"].Value.ToLowerInvariant() switch
        {
            "once" => spec,
            "always" => spec with { Trigger = FailpointTrigger.Always },
            "every" when int.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
                => spec with { Trigger = FailpointTrigger.EveryNth, Every = n },
            "nth" when int.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
                => spec with { Trigger = FailpointTrigger.Nth, Every = n },
            "p" => ParseProbability(spec, argument, text),
            _ => throw new FormatException($"'{text}': the trigger must be once, nth(N≥1), always, every(N≥1) or p(0..1[,seed=N])"),
        };
    }

    private static FailpointSpec ParseProbability(FailpointSpec spec, string argument, string text)
    {
        var parts = argument.Split(',', StringSplitOptions.TrimEntries);
        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || p is < 0 or > 1)
            throw new FormatException($"'{text}': the probability must be a number from 0 to 1");
        var seed = 0;
        if (parts.Length > 1 && !(parts[1].StartsWith("seed=", StringComparison.Ordinal)
                                  && int.TryParse(parts[1]["seed=".Length..], NumberStyles.Integer, CultureInfo.InvariantCulture, out seed)))
            throw new FormatException($"'{text}': write the seed as p(0.1,seed=42)");
        return spec with { Trigger = FailpointTrigger.Probability, Probability = p, Seed = seed };
    }

    public static TimeSpan ParseDuration(string text)
    {
        var match = DurationSyntax().Match(text.Trim());
        if (!match.Success || !double.TryParse(match.Groups["n"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            throw new FormatException($"'{text}' is not a duration; write e.g. 250ms, 2s, 1.5s or 1m");
        var value = match.Groups["unit"].Value switch
        {
            "ms" => n / 1000,
            "s" => n,
            "m" => n * 60,
            _ => throw new FormatException($"'{text}' has no unit; write e.g. 250ms, 2s or 1m"),
        };
        // Longer would overflow a TimeSpan or a timer; no fault, load or timeout of a run is anywhere near a day.
        return value <= MaxDuration.TotalSeconds
            ? TimeSpan.FromSeconds(value)
            : throw new FormatException($"'{text}' is longer than the longest duration allowed, {MaxDuration.TotalHours:0} hours");
    }

    public static readonly TimeSpan MaxDuration = TimeSpan.FromHours(24);

    /// <summary>True when the failpoint fires at most once and is then disarmed.</summary>
    public bool FiresOnce => Trigger is FailpointTrigger.Once or FailpointTrigger.Nth;

    /// <summary>The inverse of <see cref="ParseDuration"/>, in milliseconds: what the harness puts on a service's command line.</summary>
    public static string FormatDuration(TimeSpan value) => value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";

    public override string ToString()
    {
        var action = Action switch
        {
            FailpointAction.Delay or FailpointAction.Pause => $"{Action.ToString().ToLowerInvariant()}({FormatDuration(Duration)})",
            _ => Action.ToString().ToLowerInvariant(),
        };
        var trigger = Trigger switch
        {
            FailpointTrigger.Once => "once",
            FailpointTrigger.Always => "always",
            FailpointTrigger.EveryNth => $"every({Every})",
            FailpointTrigger.Nth => $"nth({Every})",
            _ => $"p({Probability.ToString(CultureInfo.InvariantCulture)},seed={Seed})",
        };
        return $"{action}@{trigger}";
    }

    [GeneratedRegex(@"^(?<action>[a-zA-Z]+)(\((?<duration>[^)]*)\))?(@(?<trigger>[a-zA-Z]+)(\((?<targ>[^)]*)\))?)?$")]
    private static partial Regex Syntax();

    [GeneratedRegex(@"^(?<n>\d+(\.\d+)?)\s*(?<unit>ms|s|m)?$")]
    private static partial Regex DurationSyntax();
}
