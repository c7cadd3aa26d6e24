using System.Net;
using Dtx.Harness.Implementations;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.Failpoints;

/// <summary>The control endpoint every service has, as the harness uses it: arm, list, refuse nonsense, disarm.</summary>
[Collection(ServersCollection.Name)]
public sealed class FailpointEndpointTests(ServersFixture servers)
{
    [Fact]
    public async Task The_control_endpoint_arms_lists_refuses_and_disarms()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation());
        using var http = new HttpClient { BaseAddress = rig.Supervisor.UrlOf("initiator") };

        using (var armed = await http.PutAsync("/failpoints/initiator.after-commit", new StringContent("delay(10ms)@every(2)")))
            Assert.Equal(HttpStatusCode.NoContent, armed.StatusCode);
        Assert.Contains("delay(10ms)@every(2)", await http.GetStringAsync("/failpoints"));

        using (var unknown = await http.PutAsync("/failpoints/participant.after-commit", new StringContent("crash")))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Contains("initiator.after-commit", await unknown.Content.ReadAsStringAsync());
        }
        using (var bad = await http.PutAsync("/failpoints/initiator.after-commit", new StringContent("explode@sometimes")))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        using (var cleared = await http.DeleteAsync("/failpoints"))
            Assert.Equal(HttpStatusCode.NoContent, cleared.StatusCode);
        Assert.DoesNotContain("delay(10ms)", await http.GetStringAsync("/failpoints"));
    }
}
