"""`evse diagram`: the session table drawn as a Mermaid state diagram, by feeding firmware/session.py's
table to `transitions` (CPython only; the firmware never imports it)."""

from transitions.extensions import GraphMachine

from firmware import session


def machine():
    """A transitions GraphMachine with exactly the firmware's states and table rows."""

    class Model:
        pass

    rows = [{"trigger": event, "source": state, "dest": nxt}
            for (state, event), (nxt, _actions) in session.table().items()]
    model = Model()
    GraphMachine(model=model, states=list(session.STATUS), transitions=rows, initial=session.IDLE,
                 graph_engine="mermaid", auto_transitions=False, show_conditions=False)
    return model


def mermaid():
    return machine().get_graph().draw(None)


def main(args):
    print(mermaid())
    return 0
