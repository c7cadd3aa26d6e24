using System.Globalization;
using Dtx.Shared.Failpoints;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Dtx.Harness.Scenarios;

/// <summary>Thrown for a scenario that cannot run; the message is one line that names the file and the field.</summary>
public sealed class ScenarioException(string message) : Exception(message);

/// <summary>
/// Reads a scenario file. The YAML maps onto plain mutable classes first, then is checked field by field into
/// the immutable <see cref="Scenario"/>, so a typo is reported by name rather than ignored.
/// </summary>
public static class ScenarioFile
{
    public static readonly IReadOnlySet<string> StepRoles = new HashSet<string>
    {
        "initiator.before-commit", "initiator.after-commit", "initiator.after-prepare", "broker.after-persist",
        "relay.after-publish", "participant.after-commit", "initiator.after-reply", "checkback.before-answer",
    };

    public static Scenario Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new ScenarioException($"cannot read scenario {path}: {e.Message}");
        }
        return Parse(text, Path.GetFileName(path));
    }

    public static Scenario Parse(string yaml, string source)
    {
        Document doc;
        try
        {
            doc = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build().Deserialize<Document>(yaml)
                  ?? throw new ScenarioException($"{source}: the file is empty");
        }
        catch (YamlException e)
        {
            throw new ScenarioException($"{source}: {e.Start.Line}:{e.Start.Column}: {(e.InnerException ?? e).Message}");
        }

        var check = new Checker(source);
        var name = check.Required(doc.Name, "name");
        var load = doc.Load ?? new LoadDocument();
        var business = doc.Business ?? new BusinessDocument();
        var protocol = doc.Protocol ?? new ProtocolDocument();
        return new Scenario(
            name,
            doc.Description ?? "",
            new LoadPlan(
                check.Positive(load.Rate ?? 40, "load.rate"),
                check.Duration(load.Duration ?? "20s", "load.duration"),
                check.Duration(load.RequestTimeout ?? "5s", "load.requestTimeout")),
            new BusinessPlan(
                (int)check.Positive(business.Skus ?? 8, "business.skus"),
                (long)check.Positive(business.StockPerSku ?? 300, "business.stockPerSku"),
                (int)check.Positive(business.Customers ?? 40, "business.customers"),
                (int)check.Positive(business.MaxQty ?? 3, "business.maxQty"),
                check.Fraction(business.RefuseShare ?? 0.1, "business.refuseShare")),
            new ProtocolTiming(
                check.Duration(protocol.ReplyTimeout ?? "4s", "protocol.replyTimeout"),
                check.Duration(protocol.Lease ?? "3s", "protocol.lease"),
                check.Duration(protocol.PollInterval ?? "250ms", "protocol.pollInterval"),
                check.Duration(protocol.TxTimeout ?? "2s", "protocol.txTimeout"),
                check.Duration(protocol.CheckInterval ?? "1s", "protocol.checkInterval"),
                (int)check.Positive(protocol.MaxChecks ?? 10, "protocol.maxChecks")),
            (doc.Faults ?? []).Select((f, i) => check.Fault(f, $"faults[{i}]")).ToList(),
            check.Duration(doc.Drain?.Deadline ?? "60s", "drain.deadline"));
    }

    private sealed class Checker(string source)
    {
        public string Required(string? value, string field) =>
            string.IsNullOrWhiteSpace(value) ? throw Fail(field, "is required") : value;

        public double Positive(double value, string field) => value > 0 ? value : throw Fail(field, $"must be positive, not {value}");

        public double Fraction(double value, string field) => value is >= 0 and <= 1 ? value : throw Fail(field, $"must be between 0 and 1, not {value}");

        public TimeSpan Duration(string text, string field)
        {
            try
            {
                var value = FailpointSpec.ParseDuration(text);
                return value > TimeSpan.Zero ? value : throw Fail(field, "must be longer than zero");
            }
            catch (FormatException e)
            {
                throw Fail(field, e.Message);
            }
        }

        public FaultPlan Fault(FaultDocument fault, string field)
        {
            var kind = Required(fault.Kind, field + ".kind");
            if (kind is not ("crash" or "pause") && !FaultPlan.NetworkKinds.Contains(kind))
                throw Fail(field + ".kind", $"'{kind}' is not a fault kind this harness knows; known: crash, pause, partition, latency, reset-peer");
            if (fault.At is null || fault.At.Count == 0) throw Fail(field + ".at", "lists when the fault happens, e.g. [3s, 8s]");
            var at = fault.At.Select((t, i) => Duration(t, $"{field}.at[{i}]")).Order().ToList();
            var restartAfter = Duration(fault.RestartAfter ?? "1s", field + ".restartAfter");

            if (FaultPlan.NetworkKinds.Contains(kind))
            {
                if (fault.Links is null || fault.Links.Count == 0)
                    throw Fail(field + ".links", "lists the links to fault, e.g. [initiator-rabbitmq]; a link is SERVICE-postgres, SERVICE-rabbitmq, PRODUCER-txbroker, checkback-PRODUCER or load-initiator");
                if (fault.Duration is null) throw Fail(field + ".duration", "is required: how long the link stays faulted, e.g. 5s");
                var latency = kind == "latency" ? Duration(fault.Latency ?? "", field + ".latency") : TimeSpan.Zero;
                var jitter = fault.Jitter is null ? TimeSpan.Zero : FailpointSpec.ParseDuration(fault.Jitter);
                return new FaultPlan(kind, null, null, at, restartAfter, null, Duration(fault.Duration, field + ".duration"))
                {
                    Links = fault.Links,
                    Latency = latency,
                    Jitter = jitter,
                };
            }

            if (kind == "pause")
            {
                if (fault.Target is null) throw Fail(field + ".target", "is required: the service to pause, e.g. participant");
                if (fault.Step is not null) throw Fail(field + ".step", "does not go with a pause; a pause stops a whole service");
                if (fault.Duration is null) throw Fail(field + ".duration", "is required: how long the service stays stopped, e.g. 5s");
                return new FaultPlan(kind, null, fault.Target, at, restartAfter, null, Duration(fault.Duration, field + ".duration"));
            }
            if (fault.Step is null && fault.Target is null)
                throw Fail(field, "a crash needs a step (a step role such as initiator.after-commit) or a target (postgres or rabbitmq)");
            if (fault.Step is not null && fault.Target is not null)
                throw Fail(field, "a crash takes a step or a target, not both");
            if (fault.Target is not null)
            {
                if (!FaultPlan.Servers.Contains(fault.Target))
                    throw Fail(field + ".target", $"'{fault.Target}' cannot be crashed by target; use postgres or rabbitmq (a service crashes at a step)");
                return new FaultPlan(kind, null, fault.Target, at, restartAfter, null);
            }
            if (!StepRoles.Contains(fault.Step!))
                throw Fail(field + ".step", $"'{fault.Step}' is not a step role; known: {string.Join(", ", StepRoles.Order())}");
            FailpointSpec action;
            try
            {
                action = FailpointSpec.Parse(fault.Action ?? "crash@once");
            }
            catch (FormatException e)
            {
                throw Fail(field + ".action", e.Message);
            }
            return new FaultPlan(kind, fault.Step, null, at, restartAfter, action);
        }

        private ScenarioException Fail(string field, string problem) => new($"{source}: {field} {problem}");
    }

    // The file's shape. Public setters only because YamlDotNet needs them; nothing outside this class sees these.
    private sealed class Document
    {
        public string? Name { get; set; }
        public string? Description { get; set; }
        public LoadDocument? Load { get; set; }
        public BusinessDocument? Business { get; set; }
        public ProtocolDocument? Protocol { get; set; }
        public List<FaultDocument>? Faults { get; set; }
        public DrainDocument? Drain { get; set; }
    }

    private sealed class LoadDocument
    {
        public double? Rate { get; set; }
        public string? Duration { get; set; }
        public string? RequestTimeout { get; set; }
    }

    private sealed class BusinessDocument
    {
        public int? Skus { get; set; }
        public long? StockPerSku { get; set; }
        public int? Customers { get; set; }
        public int? MaxQty { get; set; }
        public double? RefuseShare { get; set; }
    }

    private sealed class ProtocolDocument
    {
        public string? ReplyTimeout { get; set; }
        public string? Lease { get; set; }
        public string? PollInterval { get; set; }
        public string? TxTimeout { get; set; }
        public string? CheckInterval { get; set; }
        public int? MaxChecks { get; set; }
    }

    private sealed class FaultDocument
    {
        public string? Kind { get; set; }
        public string? Step { get; set; }
        public string? Target { get; set; }
        public List<string>? At { get; set; }
        public string? RestartAfter { get; set; }
        public string? Action { get; set; }
        public string? Duration { get; set; }
        public List<string>? Links { get; set; }
        public string? Latency { get; set; }
        public string? Jitter { get; set; }
    }

    private sealed class DrainDocument
    {
        public string? Deadline { get; set; }
    }
}
