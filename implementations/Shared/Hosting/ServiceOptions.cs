using System.Globalization;
using Dtx.Shared.Failpoints;

namespace Dtx.Shared.Hosting;

/// <summary>
/// The settings the harness passes to one service process as <c>--name value</c> pairs. A service is started
/// by the harness, not by hand, so an unknown or malformed setting is a harness bug: it fails at once, loudly.
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

    public int HttpPort => int.Parse(Required("http-port"), CultureInfo.InvariantCulture);
    /// <summary>Where others reach this service (its check-back, say): its own port unless the harness puts a proxy in front.</summary>
    public Uri AdvertisedUrl => new(Optional("advertise-url") ?? $"http://127.0.0.1:{HttpPort}");
    public string Database => Required("db");
    public string Amqp => Required("amqp");
    /// <summary>Prefixes every queue name, so that runs sharing one broker do not read each other's messages.</summary>
    public string QueuePrefix => Optional("queue-prefix") ?? "dtx";
    public double RefuseShare => double.Parse(Optional("refuse-share") ?? "0.1", CultureInfo.InvariantCulture);
    public TimeSpan ReplyTimeout => Duration("reply-timeout", "10s");
    public TimeSpan Lease => Duration("lease", "5s");
    public TimeSpan PollInterval => Duration("poll-interval", "500ms");
    /// <summary>Failpoints armed before the first request, as <c>name=spec;name=spec</c>.</summary>
    public string? Failpoints => Optional("failpoints");
    /// <summary>The safeguard switched off in this process (<see cref="Mutants.MutantCatalog"/>), or null: the real implementation.</summary>
    public string? Mutant => Optional("mutant");

    /// <summary>True when this process runs as <paramref name="mutant"/>. Read once, at start, by the step that mutant breaks.</summary>
    public bool IsMutant(string mutant) => Mutant == mutant;

    public string? Optional(string name) => _values.GetValueOrDefault(name);

    public string Required(string name) =>
        _values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"service option --{name} is required");

    public TimeSpan Duration(string name, string fallback) => FailpointSpec.ParseDuration(Optional(name) ?? fallback);

    public static ServiceOptions Parse(string implementation, string role, IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
                throw new ArgumentException($"service options come as --name value pairs; '{args[i]}' has no value");
            values[args[i][2..]] = args[++i];
        }
        return new ServiceOptions(implementation, role, values);
    }

    /// <summary>The inverse of <see cref="Parse"/>: what the harness puts on a service's command line.</summary>
    public static IEnumerable<string> ToArgs(IReadOnlyDictionary<string, string> values) =>
        values.SelectMany(kv => new[] { "--" + kv.Key, kv.Value });
}
