"""Likeness (issue 14): a photo becomes a character in Digi's art that looks like the person.

The person is measured first (`engine.likeness.measure.measure(photo)`: skin, hair, eyes,
face shape, glasses, facial hair, hat, each with a confidence); the other modules of this
package turn those measurements into colours and parts of the assembled character.
"""
