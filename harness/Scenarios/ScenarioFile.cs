using System.Globalization;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Dtx.Harness.Load;
using Dtx.Harness.Implementations;
using Dtx.Shared.Failpoints;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Dtx.Harness.Scenarios;

/// <summary>Thrown for a scenario that cannot run; the message is one line that names the file, the line and the field.</summary>
public sealed class ScenarioException(string message) : Exception(message);

/// <summary>
/// Reads a scenario file. It walks the YAML nodes against the one schema below, so that every mistake — an unknown
/// field, a bad number or duration, an unknown step role, link or service — is reported as
/// <c>file:line: field problem; allowed …</c>, in the file's own words and never in .NET's.
/// </summary>
public static class ScenarioFile
{
    private static readonly string[] TopFields = ["name", "description", "load", "business", "protocol", "faults", "chaos", "drain", "expect", "thresholds"];
    private static readonly string[] ChaosFields = ["faults", "from", "to"];
    private static readonly string[] LoadFields = ["rate", "duration", "phases", "requestTimeout", "minCreatedShare", "retries", "retryBackoff"];
    private static readonly string[] PhaseFields = [.. LoadPhase.Kinds, "during"];
    private static readonly string[] BusinessFields = ["skus", "stockPerSku", "customers", "maxQty", "refuseShare"];
    private static readonly string[] ProtocolFields = ["replyTimeout", "lease", "pollInterval", "txTimeout", "checkInterval", "maxChecks"];
    private static readonly string[] DrainFields = ["deadline"];
    private static readonly string[] ThresholdFields = ["latencyP50", "latencyP99", "timeToConsistencyP50", "timeToConsistencyP99", "okPerSecond"];
    private static readonly string[] FaultFields = ["kind", "at", "step", "action", "target", "restartAfter", "duration", "links", "latency", "jitter"];

    /// <summary>Fault kinds as a file names them, the same words as result.json.</summary>
    public static readonly IReadOnlyList<string> FaultKinds = Enum.GetValues<FaultKind>().Select(k => Words.Of(k)).ToList();

    /// <summary>How long a delay, error or pause at a step stays armed when the file does not say.</summary>
    public static readonly TimeSpan DefaultArmedFor = TimeSpan.FromSeconds(5);

    public static Scenario Load(string path)
    {
        string text;
        try
        {
            // A scenario is a small regular file. A device (/dev/zero) or a named pipe reports no length, and reading
            // one would never end or would fill the memory: it is refused before it is opened.
            var length = new FileInfo(path).Length;
            if (length == 0) throw new ScenarioException($"scenario {path} is empty or not a regular file");
            if (length > MaxFileBytes) throw new ScenarioException($"scenario {path} is {length:N0} bytes; a scenario file may have at most {MaxFileBytes:N0}");
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException($"cannot read scenario {path}: {e.Message}");
        }
        return Parse(text, Path.GetFileName(path));
    }

    /// <summary>The largest scenario file read: the catalogue's are about 2 KB.</summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>How deep YAML may nest: a scenario needs four levels; YamlDotNet's recursion would overflow the stack long before a million.</summary>
    private const int MaxDepth = 32;

    public static Scenario Parse(string yaml, string source)
    {
        if (yaml.Length > MaxFileBytes) throw new ScenarioException($"{source}: {yaml.Length:N0} characters; a scenario may have at most {MaxFileBytes:N0}");
        if (NestingDepth(yaml, source) > MaxDepth) throw new ScenarioException($"{source}: nested more than {MaxDepth} levels deep; a scenario needs four");
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new ScenarioException($"{source}:{e.Start.Line}: not valid YAML: {(e.InnerException ?? e).Message}");
        }
        if (stream.Documents.Count == 0) throw new ScenarioException($"{source}: the file is empty");
        var root = new Section(source, "", stream.Documents[0].RootNode, TopFields);

        var load = root.Child("load", LoadFields);
        var business = root.Child("business", BusinessFields);
        var protocol = root.Child("protocol", ProtocolFields);
        var drain = root.Child("drain", DrainFields);
        var scenario = new Scenario(
            Name(root),
            root.Text("description") ?? "",
            new LoadPlan(
                Phases(load),
                load.Duration("requestTimeout", "5s"),
                load.Share("minCreatedShare", LoadPlan.DefaultMinCreatedShare),
                load.Count("retries", 0, min: 0, max: 20),
                load.Duration("retryBackoff", "1s")),
            new BusinessPlan(
                business.Count("skus", 8, min: 1, max: 100_000),
                business.Count("stockPerSku", 300, min: 1, max: 1_000_000_000),
                business.Count("customers", 40, min: 1, max: 1_000_000),
                business.Count("maxQty", 3, min: 1, max: 1_000),
                business.Fraction("refuseShare", 0.1)),
            new ProtocolTiming(
                protocol.Duration("replyTimeout", "4s"),
                protocol.Duration("lease", "3s"),
                protocol.Duration("pollInterval", "250ms"),
                protocol.Duration("txTimeout", "2s"),
                protocol.Duration("checkInterval", "1s"),
                protocol.Count("maxChecks", 10, min: 1, max: 1_000)),
            root.Sections("faults", FaultFields).Select(Fault).ToList(),
            drain.Duration("deadline", "60s"))
        {
            Expect = Expect(root.Child("expect", [.. ImplementationCatalog.Names])),
            Chaos = root.Has("chaos") ? Chaos(root.Child("chaos", ChaosFields)) : null,
            Thresholds = ThresholdsOf(root.Child("thresholds", ThresholdFields)),
        };
        if (CheckTimes(scenario) is { } problem) throw new ScenarioException($"{source}: {problem}");
        return scenario;
    }

    /// <summary>
    /// The load's phases: <c>rate</c> and <c>duration</c> (one inject phase, the default 40/s for 20s), or <c>phases</c>,
    /// a list whose items each name one kind with its rate or clients, and <c>during</c>.
    /// </summary>
    private static IReadOnlyList<LoadPhase> Phases(Section load)
    {
        if (!load.Has("phases")) return [new LoadPhase.Inject(load.Positive("rate", 40), load.Duration("duration", "20s"))];
        if (load.Has("rate") || load.Has("duration"))
            throw load.Fail(load.Has("rate") ? "rate" : "duration", "goes with a constant rate; with load.phases, each phase says its own rate or clients and its own during");
        var phases = load.Sections("phases", PhaseFields).Select(phase =>
        {
            var kinds = LoadPhase.Kinds.Where(phase.Has).ToList();
            if (kinds.Count != 1)
                throw phase.Fail("", $"must name exactly one of {string.Join(", ", LoadPhase.Kinds)} (with its rate or clients), {(kinds.Count == 0 ? "not none" : "not " + string.Join(" and ", kinds))}");
            var during = phase.Duration("during", null);
            return kinds[0] switch
            {
                "inject" => (LoadPhase)new LoadPhase.Inject(phase.Positive("inject", 0), during),
                // A ramp may end at zero: the load winds down.
                "ramping-inject" => new LoadPhase.RampingInject(phase.NonNegative("ramping-inject"), during),
                "keep-constant" => new LoadPhase.KeepConstant(phase.Count("keep-constant", 0, min: 1, max: LoadPhase.MaxClients), during),
                _ => new LoadPhase.RampingConstant(phase.Count("ramping-constant", 0, min: 0, max: LoadPhase.MaxClients), during),
            };
        }).ToList();
        return phases.Count > 0 ? phases : throw load.Fail("phases", "is empty: give at least one phase, such as { inject: 40, during: 20s }");
    }

    /// <summary>
    /// The name is free text (it becomes part of a run folder's name only through <c>ScenarioRunner.Slug</c>), but short
    /// and printable: it heads every console line and report.
    /// </summary>
    private static string Name(Section root)
    {
        var name = root.Required("name");
        if (name.Length > 100) throw root.Fail("name", $"is {name.Length} characters long; at most 100");
        if (name.Any(char.IsControl)) throw root.Fail("name", "must not contain control characters (a tab, a new line, NUL)");
        return name;
    }

    /// <summary>
    /// How deep the YAML nests, read as a stream of parser events (no recursion): loading a document into a tree
    /// recurses once per level, and a small file of nested brackets would overflow the stack, which no catch can stop.
    /// </summary>
    private static int NestingDepth(string yaml, string source)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(yaml));
        int depth = 0, deepest = 0;
        try
        {
            while (parser.MoveNext() && deepest <= MaxDepth)
            {
                // An alias repeats what its anchor names: a small file of aliases to aliases expands past any memory.
                if (parser.Current is YamlDotNet.Core.Events.AnchorAlias alias)
                    throw new ScenarioException($"{source}:{alias.Start.Line}: aliases (*{alias.Value}) are not allowed in a scenario; write the value out");
                if (parser.Current is YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart) deepest = Math.Max(deepest, ++depth);
                else if (parser.Current is YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd) depth--;
            }
        }
        catch (YamlException e)
        {
            throw new ScenarioException($"{source}:{e.Start.Line}: not valid YAML: {(e.InnerException ?? e).Message}");
        }
        return deepest;
    }

    /// <summary>The most requests one run may make: past this the orders alone would not fit in memory.</summary>
    public const int MaxRequests = 10_000_000;

    /// <summary>The most phases a load may have: each is a line of its report.</summary>
    public const int MaxPhases = 100;

    /// <summary>The longest load: a day, far past any nightly run.</summary>
    public static readonly TimeSpan MaxLoad = TimeSpan.FromHours(24);

    /// <summary>
    /// Null when the load is sane and every fault falls inside it; otherwise what is wrong. A fault planned after the
    /// load would hit an idle system and prove nothing, so it is refused — also when <c>--duration</c> shortens the load.
    /// </summary>
    public static string? CheckTimes(Scenario scenario)
    {
        var load = scenario.Load;
        if (load.ScheduledRequests > MaxRequests)
            return $"the load asks for more than {MaxRequests:N0} requests";
        if (load.Phases.Count > MaxPhases)
            return $"the load has {load.Phases.Count} phases; at most {MaxPhases}";
        if (load.Duration > MaxLoad)
            return $"the load lasts {load.Duration.TotalHours:0.#} h; at most {MaxLoad.TotalHours:0} h";
        // A phase that sends nothing would be a row of zeros, and a run of only such phases would check nothing.
        foreach (var ((phase, previous), i) in load.WithPrevious.Select((p, i) => (p, i)))
        {
            var where = load.Phases.Count == 1 && phase is LoadPhase.Inject ? "the load" : $"load.phases[{i}] ({phase.Describe(previous)})";
            if (phase.During < LoadPhase.MinDuring)
                return $"{where} lasts {phase.During.TotalMilliseconds:0.###} ms; a phase lasts at least {LoadPhase.MinDuring.TotalMilliseconds:0} ms";
            if (phase.IsOpen ? phase.ScheduledRequests(previous) < 1 : phase.ClientWindow(previous, 0) is null)
                return $"{where} {(phase.IsOpen ? "offers less than one request" : "has no client")}; the run would check nothing there";
        }
        // Every open phase sends (above), so a load with one has requests to measure.
        if (scenario.Thresholds.HasLatencyBound && !load.Phases.Any(p => p.IsOpen))
            return "a latency threshold needs an open-model phase that sends (inject or ramping-inject): a closed model's latencies hide its stalls, so they are reported per phase only";
        var late = scenario.Faults.SelectMany(f => f.At.Select(at => (Fault: f, At: at))).FirstOrDefault(p => p.At >= scenario.Load.Duration);
        if (late.Fault is not null)
            return $"the {Words.Of(late.Fault.Kind)} of {late.Fault.Target} at {late.At.TotalSeconds:0.###}s comes after the load ends at {scenario.Load.Duration.TotalSeconds:0.###}s; a fault must fall inside the load";
        if (scenario.Thresholds.MinOkPerSecond is { } least && !load.HasClosedPhase && least > load.NominalRate)
            return $"thresholds.okPerSecond ({least:0.##}) is more than the load offers ({(load.ConstantRate is { } rate ? $"load.rate {rate:0.##}/s" : $"{load.NominalRate:0.##}/s over the load")}): no run could meet it";
        if (scenario.Chaos is { } chaos && chaos.To >= scenario.Load.Duration)
            return $"chaos.to ({chaos.To.TotalSeconds:0.###}s) must come before the load ends at {scenario.Load.Duration.TotalSeconds:0.###}s";
        return null;
    }

    /// <summary><c>chaos: { faults: 6, from: 2s, to: 17s }</c>: that many faults of every kind, drawn from the seed.</summary>
    private static ChaosPlan Chaos(Section chaos)
    {
        var plan = new ChaosPlan(chaos.Count("faults", 6, min: 1, max: 1_000), chaos.Duration("from", "2s", allowZero: true), chaos.Duration("to", "17s"));
        if (plan.To <= plan.From) throw chaos.Fail("to", "must come after chaos.from");
        // The draw's promise: one fault's effect is over before the next begins.
        var fit = 1 + (int)((plan.To - plan.From) / ChaosPlan.MinSpacing);
        return plan.Count <= fit ? plan
            : throw chaos.Fail("faults", $"({plan.Count}) between {plan.From.TotalSeconds:0.###}s and {plan.To.TotalSeconds:0.###}s would come less than {ChaosPlan.MinSpacing.TotalSeconds:0}s apart; at most {fit} fit");
    }

    /// <summary><c>thresholds: { latencyP99: 800ms, timeToConsistencyP99: 5s, okPerSecond: 30 }</c>: each optional.</summary>
    private static Thresholds ThresholdsOf(Section thresholds)
    {
        double? Ms(string field) => thresholds.Has(field) ? thresholds.Duration(field, null).TotalMilliseconds : null;
        return new Thresholds(Ms("latencyP50"), Ms("latencyP99"), Ms("timeToConsistencyP50"), Ms("timeToConsistencyP99"),
            thresholds.Has("okPerSecond") ? thresholds.Positive("okPerSecond", 0) : null);
    }

    /// <summary><c>expect: { half-message: [no-lost-order, converged] }</c>: the violations a run of that implementation should show.</summary>
    private static Dictionary<string, IReadOnlyList<string>> Expect(Section expect) =>
        ImplementationCatalog.Names.Where(expect.Has)
            .ToDictionary(name => name, name => expect.Names(name, Checking.Checker.InvariantNames, "the invariants it is expected to violate"));

    private static FaultPlan Fault(Section fault)
    {
        var kindText = fault.Required("kind");
        if (!FaultKinds.Contains(kindText)) throw fault.Fail("kind", $"'{kindText}' is not a fault kind; allowed: {string.Join(", ", FaultKinds)}");
        var kind = Enum.GetValues<FaultKind>().Single(k => Words.Of(k) == kindText);
        var at = fault.Durations("at", "when the fault happens, from the load's start, e.g. [3s, 8s]", allowZero: true);

        if (LinkFault.Effects.Contains(kind))
        {
            fault.Only(kindText, "links", "duration", "latency", "jitter");
            var links = fault.Names("links", LinkNames, "the links to fault, e.g. [initiator-rabbitmq]");
            return new LinkFault(at, kind, links, fault.Duration("duration", null),
                kind == FaultKind.Latency ? fault.Duration("latency", null) : TimeSpan.Zero,
                kind == FaultKind.Latency ? fault.Duration("jitter", "0ms", allowZero: true) : TimeSpan.Zero);
        }

        if (kind == FaultKind.PoisonMessage)
        {
            fault.Only(kindText, "target");
            var queue = fault.Text("target") ?? "orders";
            return queue == "orders" ? new PoisonMessage(at) : throw fault.Fail("target", $"'{queue}' cannot be poisoned; allowed: orders");
        }
        if (kind == FaultKind.MessageLoss)
        {
            fault.Only(kindText, "target");
            var queue = fault.Required("target");
            return queue switch
            {
                "orders" => new MessageLoss(at, LostQueue.Orders),
                "replies" => new MessageLoss(at, LostQueue.Replies),
                _ => throw fault.Fail("target", $"'{queue}' is not a queue; allowed: orders, replies"),
            };
        }

        var step = fault.Text("step");
        var target = fault.Text("target");
        if (step is not null && target is not null) throw fault.Fail("step", "and target do not go together: a fault hits a step role or a whole target");
        if (step is not null)
        {
            fault.Only(kindText, "step", "action", "restartAfter", "duration");
            if (!StepRoles.IsKnown(step)) throw fault.Fail("step", $"'{step}' is not a step role; allowed: {string.Join(", ", StepRoles.Names)}");
            var action = fault.Action(kind);
            if (kind != FaultKind.Crash && fault.Has("restartAfter")) throw fault.Fail("restartAfter", $"goes with a crash only, not with {kindText}");
            if (kind == FaultKind.Crash && fault.Has("duration")) throw fault.Fail("duration", "does not go with a crash at a step: it lasts until the process dies");
            return new StepFault(at, step, action, fault.Duration("restartAfter", "1s"), fault.Has("duration") ? fault.Duration("duration", null) : DefaultArmedFor);
        }
        if (target is null)
            throw fault.Fail("", kind switch
            {
                FaultKind.Crash => "a crash needs a step (a step role such as initiator.after-commit) or a target (postgres, rabbitmq or a service)",
                FaultKind.Pause => "target is required: the service to pause, e.g. participant (or a step, for a pause at one step)",
                _ => $"{kindText} needs a step: the step role whose failpoint it arms",
            });
        if (kind == FaultKind.Crash)
        {
            fault.Only(kindText, "target", "restartAfter");
            if (target is "postgres" or "rabbitmq")
                return new ServerCrash(at, target == "postgres" ? Server.Postgres : Server.Rabbitmq, fault.Duration("restartAfter", "1s"));
            if (!ServiceNames.Contains(target))
                throw fault.Fail("target", $"'{target}' cannot be crashed; allowed: postgres, rabbitmq, {string.Join(", ", ServiceNames)}");
            return new ServiceCrash(at, target, fault.Duration("restartAfter", "1s"));
        }
        if (kind == FaultKind.Pause)
        {
            fault.Only(kindText, "target", "duration");
            if (!ServiceNames.Contains(target)) throw fault.Fail("target", $"'{target}' is not a service; allowed: {string.Join(", ", ServiceNames)}");
            return new ServicePause(at, target, fault.Duration("duration", null));
        }
        throw fault.Fail("target", $"does not go with {kindText}, which hits a step: give a step instead");
    }

    /// <summary>Services of any implementation: what a crash or a pause can target.</summary>
    private static IReadOnlyList<string> ServiceNames => ImplementationCatalog.All.SelectMany(i => i.Services).Distinct().Order().ToList();

    /// <summary>Links of any implementation: what a network fault can name.</summary>
    private static IReadOnlyList<string> LinkNames => ImplementationCatalog.All.SelectMany(Links.NamesFor).Distinct().Order().ToList();

    /// <summary>One mapping of the file, read field by field; every error names the file, the line and the field's path.</summary>
    private sealed class Section
    {
        private readonly string _source;
        private readonly string _path;
        private readonly YamlNode _node;
        private readonly Dictionary<string, YamlNode> _fields = new();

        public Section(string source, string path, YamlNode node, string[] allowed)
        {
            (_source, _path, _node) = (source, path, node);
            if (node is YamlScalarNode { Value: null or "" or "~" } && path != "") return; // an empty section: all defaults
            if (node is not YamlMappingNode mapping)
                throw new ScenarioException($"{Where(node)}{(path == "" ? "the file" : path)} must be a mapping of fields; allowed: {string.Join(", ", allowed)}");
            foreach (var (key, value) in mapping.Children)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(name))
                    throw new ScenarioException($"{Where(key)}{Field(name)} is not a field here; allowed: {string.Join(", ", allowed)}");
                _fields[name] = value;
            }
        }

        public bool Has(string field) => _fields.ContainsKey(field);

        public Section Child(string field, string[] allowed) =>
            new(_source, Field(field), _fields.GetValueOrDefault(field) ?? new YamlScalarNode(""), allowed);

        public IEnumerable<Section> Sections(string field, string[] allowed)
        {
            if (!_fields.TryGetValue(field, out var node) || node is YamlScalarNode { Value: null or "" or "~" }) return [];
            if (node is not YamlSequenceNode list) throw Fail(field, "must be a list");
            return list.Children.Select((item, i) => new Section(_source, $"{Field(field)}[{i}]", item, allowed)).ToList();
        }

        public string? Text(string field) => _fields.TryGetValue(field, out var node) ? Scalar(field, node) : null;

        public string Required(string field) => Text(field) is { Length: > 0 } value ? value : throw Fail(field, "is required");

        public double Positive(string field, double fallback)
        {
            var value = Number(field, fallback);
            return value > 0 ? value : throw Fail(field, $"must be a positive number, not {Text(field)}");
        }

        /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>: every count sizes something the run builds.</summary>
        public int Count(string field, int fallback, int min, int max)
        {
            var value = Number(field, fallback);
            return value >= min && value <= max && value == Math.Floor(value)
                ? (int)value
                : throw Fail(field, $"must be a whole number from {min} to {max:N0}, not {Text(field)}");
        }

        /// <summary>A share above zero and at most one: zero would switch the check it feeds off.</summary>
        public double Share(string field, double fallback)
        {
            var value = Number(field, fallback);
            return value is > 0 and <= 1 ? value : throw Fail(field, $"must be above 0 and at most 1, not {Text(field)}");
        }

        public double NonNegative(string field)
        {
            var value = Number(field, 0);
            return value >= 0 ? value : throw Fail(field, $"must be zero or a positive number, not {Text(field)}");
        }

        public double Fraction(string field, double fallback)
        {
            var value = Number(field, fallback);
            return value is >= 0 and <= 1 ? value : throw Fail(field, $"must be between 0 and 1, not {Text(field)}");
        }

        private double Number(string field, double fallback)
        {
            if (Text(field) is not { } text) return fallback;
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw Fail(field, $"must be a number, not '{text}'");
        }

        public TimeSpan Duration(string field, string? fallback, bool allowZero = false)
        {
            var text = Text(field) ?? fallback ?? throw Fail(field, "is required: a duration such as 500ms, 5s or 1m");
            return ParseDuration(field, _fields.GetValueOrDefault(field), text, allowZero);
        }

        public IReadOnlyList<TimeSpan> Durations(string field, string what, bool allowZero)
        {
            var items = Items(field, what);
            return items.Select((item, i) => ParseDuration($"{field}[{i}]", item, Scalar(field, item) ?? "", allowZero)).Order().ToList();
        }

        public IReadOnlyList<string> Names(string field, IReadOnlyList<string> allowed, string what)
        {
            var names = Items(field, what).Select(item => (Item: item, Name: Scalar(field, item) ?? "")).ToList();
            foreach (var (item, name) in names)
                if (!allowed.Contains(name))
                    throw new ScenarioException($"{Where(item)}{Field(field)}: '{name}' is not one; allowed: {string.Join(", ", allowed)}");
            return names.Select(n => n.Name).ToList();
        }

        /// <summary>The failpoint action at a step: the file's <c>action</c>, or the kind's own with <c>once</c>; it must be of that kind.</summary>
        public FailpointSpec Action(FaultKind kind)
        {
            var kindName = Words.Of(kind);
            var text = Text("action") ?? (kind is FaultKind.Crash or FaultKind.Error
                ? kindName + "@once"
                : throw Fail("action", $"is required for a {kindName} at a step, e.g. {kindName}(2s)@every(5)"));
            FailpointSpec spec;
            try
            {
                spec = FailpointSpec.Parse(text);
            }
            catch (FormatException e)
            {
                throw Fail("action", e.Message);
            }
            var actionKind = spec.Action.ToString().ToLowerInvariant();
            return actionKind == kindName ? spec : throw Fail("action", $"'{text}' is a {actionKind}, but the fault's kind is {kindName}");
        }

        /// <summary>Refuses fields that do not go with this kind of fault (a latency on a crash, say).</summary>
        public void Only(string kind, params string[] fields)
        {
            foreach (var field in _fields.Keys.Where(f => f is not ("kind" or "at") && !fields.Contains(f)))
                throw Fail(field, $"does not go with this {kind}; it takes: kind, at, {string.Join(", ", fields)}");
        }

        public ScenarioException Fail(string field, string problem) =>
            new($"{Where(_fields.GetValueOrDefault(field) ?? _node)}{(field == "" ? _path : Field(field))} {problem}");

        private List<YamlNode> Items(string field, string what)
        {
            if (!_fields.TryGetValue(field, out var node)) throw Fail(field, $"is required: {what}");
            var items = node is YamlSequenceNode list ? list.Children.ToList() : [node];
            return items.Count > 0 ? items : throw Fail(field, $"is empty: {what}");
        }

        private TimeSpan ParseDuration(string field, YamlNode? node, string text, bool allowZero)
        {
            try
            {
                var value = FailpointSpec.ParseDuration(text);
                if (value > TimeSpan.Zero || (allowZero && value == TimeSpan.Zero)) return value;
                throw new FormatException("must be longer than zero");
            }
            catch (FormatException e)
            {
                throw new ScenarioException($"{Where(node ?? _node)}{Field(field)}: {e.Message}");
            }
        }

        private string? Scalar(string field, YamlNode node) => node switch
        {
            YamlScalarNode scalar => scalar.Value,
            _ => throw new ScenarioException($"{Where(node)}{Field(field)} must be a single value, not a list or mapping"),
        };

        private string Field(string name) => _path == "" ? name : $"{_path}.{name}";

        private string Where(YamlNode node) => node.Start.Line > 0 ? $"{_source}:{node.Start.Line}: " : $"{_source}: ";
    }
}
