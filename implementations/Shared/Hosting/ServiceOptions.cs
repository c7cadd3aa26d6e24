using System.Globalization;
using Dtx.Shared.Failpoints;

namespace Dtx.Shared.Hosting;

/// <summary>
/// The settings the harness passes to one service process as <c>--name value</c> pairs. A service is started by the
/// harness, not by hand, so a missing or malformed setting is a harness bug, or a person trying the hidden command:
/// either way it fails at start (<see cref="Validate"/> and the role's own reads), before anything connects, with a
/// <see cref="ServiceOptionException"/> that names the setting and what it takes.
/// </summary>
public sealed class ServiceOptions
{
    private readonly Dictionary<string, string> _values;

    private ServiceOptions(string implementation, string role, Dictionary<string, string> values)
    {
        Implementation = implementation;
        Role = role;
        _values = values;
    }

    public string Implementation { get; }
    public string Role { get; }

    public int HttpPort => Int("http-port", fallback: null, min: 1, max: 65535);
    /// <summary>Where others reach this service (its check-back, say): its own port unless the harness puts a proxy in front.</summary>
    public Uri AdvertisedUrl => Optional("advertise-url") is null ? new($"http://127.0.0.1:{HttpPort}") : HttpUrl("advertise-url");
    public string Database => Required("db");
    public string Amqp => Required("amqp");
    /// <summary>Prefixes every queue name, so that runs sharing one broker do not read each other's messages.</summary>
    public string QueuePrefix => Optional("queue-prefix") ?? "dtx";
    public double RefuseShare => Optional("refuse-share") is not { } text ? 0.1
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var share) && share is >= 0 and <= 1 ? share
        : throw new ServiceOptionException($"--refuse-share: '{text}' is not a share from 0 to 1");
    public TimeSpan ReplyTimeout => Duration("reply-timeout", "10s");
    public TimeSpan Lease => Duration("lease", "5s");
    public TimeSpan PollInterval => Duration("poll-interval", "500ms");
    /// <summary>Failpoints armed before the first request, as <c>name=spec;name=spec</c>.</summary>
    public string? Failpoints => Optional("failpoints");
    /// <summary>The safeguard switched off in this process (<see cref="Mutants.MutantCatalog"/>), or null: the real implementation.</summary>
    public string? Mutant => Optional("mutant");
    /// <summary>A new file to keep this process's <see cref="ServiceCounters"/> in, so that they outlive a SIGKILL; null: in memory.</summary>
    public string? CountersFile => Optional("counters");

    /// <summary>True when this process runs as <paramref name="mutant"/>. Read once, at start, by the step that mutant breaks.</summary>
    public bool IsMutant(string mutant) => Mutant == mutant;

    public string? Optional(string name) => _values.GetValueOrDefault(name);

    public string Required(string name) =>
        _values.TryGetValue(name, out var value) && value.Length > 0 ? value : throw new ServiceOptionException($"--{name} is required");

    /// <summary>A duration above zero, e.g. 250ms or 2s.</summary>
    public TimeSpan Duration(string name, string fallback)
    {
        try
        {
            var value = FailpointSpec.ParseDuration(Optional(name) ?? fallback);
            return value > TimeSpan.Zero ? value : throw new ServiceOptionException($"--{name} must be longer than zero");
        }
        catch (FormatException e)
        {
            throw new ServiceOptionException($"--{name}: {e.Message}");
        }
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>; required when there is no fallback.</summary>
    public int Int(string name, int? fallback, int min, int max)
    {
        var text = fallback is { } value && Optional(name) is null ? value.ToString(CultureInfo.InvariantCulture) : Required(name);
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max ? n
            : throw new ServiceOptionException($"--{name}: '{text}' is not a whole number from {min} to {max}");
    }

    /// <summary>An absolute http:// or https:// URL.</summary>
    public Uri HttpUrl(string name) =>
        Uri.TryCreate(Required(name), UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url
        : throw new ServiceOptionException($"--{name}: '{Required(name)}' is not an absolute http:// URL");

    /// <summary>
    /// Reads every setting all roles share, so that a malformed one fails here, at start, and not minutes later in
    /// the code path that first reads it. A role's own settings are read when it configures its services.
    /// </summary>
    public void Validate()
    {
        _ = HttpPort;
        _ = AdvertisedUrl;
        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(Database);
        }
        catch (ArgumentException e)
        {
            throw new ServiceOptionException($"--db: not a PostgreSQL connection string ({e.Message})");
        }
        if (!Uri.TryCreate(Amqp, UriKind.Absolute, out var amqp) || amqp.Scheme is not ("amqp" or "amqps") || amqp.Host.Length == 0)
            throw new ServiceOptionException($"--amqp: '{Amqp}' is not an amqp://user:pass@host:port/ URI");
        _ = RefuseShare;
        _ = ReplyTimeout;
        _ = Lease;
        _ = PollInterval;
    }

    public static ServiceOptions Parse(string implementation, string role, IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || args[i].Length == 2 || i + 1 >= args.Count)
                throw new ServiceOptionException($"service settings come as --name value pairs; '{args[i]}' has no value");
            if (!values.TryAdd(args[i][2..], args[i + 1]))
                throw new ServiceOptionException($"{args[i]} is given twice");
            i++;
        }
        return new ServiceOptions(implementation, role, values);
    }

    /// <summary>The inverse of <see cref="Parse"/>: what the harness puts on a service's command line.</summary>
    public static IEnumerable<string> ToArgs(IReadOnlyDictionary<string, string> values) =>
        values.SelectMany(kv => new[] { "--" + kv.Key, kv.Value });
}
