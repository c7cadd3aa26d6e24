using Dtx.Harness.Checking;
using Xunit;

namespace Dtx.Tests.Checking;

public sealed class InDoubtTests
{
    [Fact]
    public void What_is_in_doubt_is_said_naming_only_what_is_there()
    {
        Assert.Equal("12 outbox rows, 3 queued messages", new InDoubt(12, 3, 0, 0).Describe());
        Assert.Equal("5 pending orders, 2 half messages in doubt", new InDoubt(0, 0, 5, 2).Describe());
        Assert.Equal("nothing in doubt", new InDoubt(0, 0, 0, 0).Describe());
    }
}
