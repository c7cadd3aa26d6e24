using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Dtx.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// Every network scenario, shortened, against both implementations, with every link through the embedded
/// Toxiproxy-compatible proxy. A scenario whose links an implementation lacks must say "not-applicable" for it,
/// never "pass".
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class NetworkFaultScenarioTests(ServersFixture servers, ITestOutputHelper output)
{
    [Theory]
    [InlineData("partition-broker", true)]
    [InlineData("partition-database", true)]
    [InlineData("partition-participant-broker", true)]
    [InlineData("partition-txbroker", false)]
    [InlineData("partition-check-back", true)]
    [InlineData("latency-broker", true)]
    [InlineData("reset-peer-database", true)]
    public async Task Every_implementation_keeps_every_invariant(string name, bool appliesToLocalTable)
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-net-" + Guid.NewGuid().ToString("N")[..8]);
        var options = new RunOptions(ImplementationCatalog.References, Seed: 5, Rate: 20, Duration: TimeSpan.FromSeconds(12),
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false);

        var result = await new ScenarioRunner(options, output.WriteLine).RunAsync(ScenarioCatalog.Find(name), default);

        Assert.True(result.Passed, string.Join(" | ", result.Runs.Select(r => $"{r.Implementation} {r.Verdict}: " +
            string.Join("; ", r.Invariants.Where(i => !i.Ok).Select(i => $"{i.Name} {i.Violations} {string.Join(",", i.Examples)}")) + r.Error)));
        var localTable = result.Runs.Single(r => r.Implementation == "local-table");
        var halfMessage = result.Runs.Single(r => r.Implementation == "half-message");
        Assert.Equal(appliesToLocalTable ? Verdict.Pass : Verdict.NotApplicable, localTable.Verdict);
        Assert.Equal(Verdict.Pass, halfMessage.Verdict);
        Assert.All(halfMessage.Faults, f => Assert.True(f.Note is null && f.EndSeconds > f.AtSeconds, $"{f.Kind} {f.Target}: {f.Note}"));
        Directory.Delete(reports, recursive: true);
    }
}
