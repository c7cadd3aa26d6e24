using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Dtx.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// The scenarios that crash a server or freeze a service, shortened, against both implementations. The harness
/// starts its own servers here (a server crash is only made on servers it started); the collection only keeps
/// these heavy runs from sharing the two cores with the other server tests.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ServerFaultScenarioTests(ServersFixture servers, ITestOutputHelper output)
{
    [Theory]
    [InlineData("crash-broker", "rabbitmq")]
    [InlineData("crash-database", "postgres")]
    [InlineData("pause-participant", "participant")]
    public async Task Every_implementation_keeps_every_invariant(string name, string target)
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-faults-" + Guid.NewGuid().ToString("N")[..8]);
        var scenario = ScenarioCatalog.Find(name);
        var options = new RunOptions(ImplementationCatalog.References, Seed: 11, Rate: 20, Duration: TimeSpan.FromSeconds(14),
            reports, Postgres: null, Amqp: null, KeepDatabases: false);

        var result = await new ScenarioRunner(options, output.WriteLine).RunAsync(scenario, default);

        foreach (var run in result.Runs)
        {
            Assert.True(run.Verdict == Verdict.Pass, run.Implementation + ": " + string.Join("; ", run.Invariants.Where(i => !i.Ok).Select(i => $"{i.Name}: {i.Violations} {string.Join(",", i.Examples)}")) + string.Join("; ", run.Reasons));
            var fault = Assert.Single(run.Faults);
            Assert.Equal(target, fault.Target);
            Assert.Null(fault.Note);
            Assert.True(fault.EndSeconds > fault.AtSeconds);
            // PostgreSQL's statistics restart with it: rows written per order are left out and say why, never a wrong figure.
            if (target == "postgres")
                Assert.True(run.Cost is { BusinessDbRowsWritten: null, DatabaseNotMeasured: { } why } && why.Contains("restarted"), $"{run.Implementation}: {run.Cost}");
            else
                Assert.True(run.Cost is { BusinessDbRowsWritten: > 0, DatabaseNotMeasured: null }, $"{run.Implementation}: {run.Cost}");
        }
        Directory.Delete(reports, recursive: true);
    }

    [Fact]
    public async Task A_server_crash_on_an_external_server_is_not_applicable_rather_than_a_pass()
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-faults-" + Guid.NewGuid().ToString("N")[..8]);
        var options = new RunOptions([new LocalTableImplementation()], Seed: 11, Rate: 10, Duration: TimeSpan.FromSeconds(8),
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false);

        var result = await new ScenarioRunner(options, output.WriteLine).RunAsync(ScenarioCatalog.Find("crash-broker"), default);

        var run = Assert.Single(result.Runs);
        Assert.StartsWith("not applicable", Assert.Single(run.Faults).Note);
        Assert.Equal(Verdict.NotApplicable, run.Verdict);
        Directory.Delete(reports, recursive: true);
    }
}
