using System.Net;
using System.Net.Sockets;
using Dtx.Harness.Checking;
using Dtx.Harness.Load;
using Xunit;

namespace Dtx.Tests.Load;

/// <summary>
/// How a request's end becomes Jepsen's ok, fail or info. Fail only where the order certainly did not happen; every
/// other error, however it surfaces, is indeterminate, and never an exception that ends the run.
/// </summary>
public sealed class ClassifyTests
{
    private static Task<(OpType Type, string? Detail)> Classify(Func<Task<HttpResponseMessage>> send) => LoadGenerator.ClassifyAsync(send);

    [Fact]
    public async Task A_new_order_is_ok_and_a_repeated_one_is_ok_already_placed()
    {
        Assert.Equal((OpType.Ok, null), await Classify(() => Task.FromResult(new HttpResponseMessage(HttpStatusCode.Created))));
        Assert.Equal((OpType.Ok, "already placed"), await Classify(() => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK))));
    }

    [Fact]
    public async Task A_4xx_or_a_refused_connection_is_a_definite_failure_and_a_5xx_is_indeterminate()
    {
        Assert.Equal(OpType.Fail, (await Classify(() => Task.FromResult(new HttpResponseMessage(HttpStatusCode.Conflict)))).Type);
        Assert.Equal((OpType.Fail, "connection refused"), await Classify(() =>
            Task.FromException<HttpResponseMessage>(new HttpRequestException("refused", new SocketException((int)SocketError.ConnectionRefused)))));
        Assert.Equal(OpType.Info, (await Classify(() => Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)))).Type);
    }

    [Fact]
    public async Task A_reset_a_timeout_or_a_bare_socket_error_is_indeterminate()
    {
        Assert.Equal(OpType.Info, (await Classify(() => Task.FromException<HttpResponseMessage>(
            new HttpRequestException(HttpRequestError.ResponseEnded, "reset")))).Type);
        Assert.Equal((OpType.Info, "timeout"), await Classify(() => Task.FromException<HttpResponseMessage>(new TaskCanceledException())));
        // Seen in a catalogue run: the dying initiator accepted a connection and dropped it, and the error came unwrapped.
        var bare = await Classify(() => Task.FromException<HttpResponseMessage>(new SocketException((int)SocketError.NotConnected)));
        Assert.Equal(OpType.Info, bare.Type);
        Assert.StartsWith("SocketException", bare.Detail);
        Assert.Equal(OpType.Info, (await Classify(() => Task.FromException<HttpResponseMessage>(new IOException("broken pipe")))).Type);
    }
}
