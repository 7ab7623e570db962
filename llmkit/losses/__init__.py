"""Notebook 01 (and 05's distillation loss): the course's losses written out by hand, each checked against torch.

* ``logistic``   BCE, logistic regression, gradient descent
* ``multiclass`` softmax cross-entropy and softmax regression
* ``language``   next-token NLL and perplexity
* ``kd``         Hinton's distillation loss and its gradient
* ``gradcheck``  finite differences, autograd, the loss landscape
"""
