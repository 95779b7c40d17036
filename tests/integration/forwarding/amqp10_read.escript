#!/usr/bin/env escript
%% An AMQP 1.0 consumer for the forwarding test: reads Count messages from a RabbitMQ queue through the
%% broker's AMQP 1.0 plugin with RabbitMQ's own Erlang AMQP 1.0 client (amqp10_client, in the
%% rabbitmq-server package; ERL_LIBS must name its plugins directory), accepts each, and prints one line
%% per message: application property topic, messageId, generateTime, the subject, message-id, then the
%% body (the forwarded JSON), separated by tabs.
%%
%%   ERL_LIBS=/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/plugins escript amqp10_read.escript PORT QUEUE COUNT
main([Port, Queue, Count]) ->
    {ok, _} = application:ensure_all_started(amqp10_client),
    {ok, Conn} = amqp10_client:open_connection(#{address => "127.0.0.1",
                                                 port => list_to_integer(Port),
                                                 sasl => {plain, <<"guest">>, <<"guest">>},
                                                 container_id => <<"iot-forwarding-test">>,
                                                 hostname => <<"vhost:/">>}),
    receive {amqp10_event, {connection, Conn, opened}} -> ok
    after 15000 -> fail("the AMQP 1.0 connection did not open")
    end,
    {ok, Session} = amqp10_client:begin_session_sync(Conn),
    {ok, Link} = amqp10_client:attach_receiver_link(Session, <<"iot-forwarding-test-receiver">>,
                                                    list_to_binary("/amq/queue/" ++ Queue), unsettled),
    receive {amqp10_event, {link, Link, attached}} -> ok
    after 15000 -> fail("the receiving link was not attached")
    end,
    N = list_to_integer(Count),
    ok = amqp10_client:flow_link_credit(Link, N, never),
    read(Link, N),
    ok = amqp10_client:close_connection(Conn),
    halt(0);
main(_) ->
    fail("usage: amqp10_read.escript PORT QUEUE COUNT").

read(_, 0) -> ok;
read(Link, N) ->
    receive
        {amqp10_msg, Link, Msg} ->
            App = amqp10_msg:application_properties(Msg),
            Props = amqp10_msg:properties(Msg),
            Body = iolist_to_binary(amqp10_msg:body(Msg)),
            io:format("~s\t~s\t~p\t~s\t~s\t~s~n",
                      [maps:get(<<"topic">>, App, <<>>), maps:get(<<"messageId">>, App, <<>>),
                       maps:get(<<"generateTime">>, App, 0), maps:get(subject, Props, <<>>),
                       maps:get(message_id, Props, <<>>), Body]),
            ok = amqp10_client:accept_msg(Link, Msg),
            read(Link, N - 1)
    after 30000 -> fail(io_lib:format("~b message(s) did not arrive", [N]))
    end.

fail(Why) ->
    io:format(standard_error, "amqp10_read: ~s~n", [Why]),
    halt(1).
